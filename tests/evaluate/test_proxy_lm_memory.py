"""The LoRA proxy's memory savings change no number: the head applied only at response positions gives the
full-logit loss and gradients, fits share (and never change) the base model's weights, and the OS trim is safe."""
from __future__ import annotations

import pytest
from eval_helpers import chat_examples, one_torch_thread, tiny_lm  # noqa: F401  (fixtures)

from sft_select.evaluate import proxy_lm
from sft_select.evaluate.proxy_lm import IGNORE, LoRAProxy, full_logits_nll, lora_copy, response_nll

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")


def tiny_llama(vocab: int = 97, **kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      pad_token_id=0, **kw)
    return LlamaForCausalLM(cfg).eval()


def batch(vocab: int = 97):
    """Right-padded rows of different lengths, each with a prompt (ignored) and a response part."""
    g = torch.Generator().manual_seed(1)
    lengths, prompts = [20, 13, 7, 17], [6, 9, 2, 16]  # the last row has one response token
    ids = torch.zeros((4, 20), dtype=torch.long)
    labels = torch.full((4, 20), IGNORE)
    mask = torch.zeros((4, 20), dtype=torch.long)
    for r, (n, p) in enumerate(zip(lengths, prompts)):
        ids[r, :n] = torch.randint(1, vocab, (n,), generator=g)
        labels[r, p:n] = ids[r, p:n]
        mask[r, :n] = 1
    return ids, labels, mask


def lora(model):
    # init_lora_weights=False: random B as well as A, so the adapter changes the output and A gets gradients
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                             task_type="CAUSAL_LM", init_lora_weights=False)
    return peft.get_peft_model(model, config)


def lora_grads(model, nll, ids, labels, mask):
    model.zero_grad()
    loss = nll(model, ids, labels, mask)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("tied", [True, False])
def test_response_positions_only_give_the_full_logit_loss_and_gradients(tied):
    model = lora(tiny_llama(tie_word_embeddings=tied))
    model.train()
    ids, labels, mask = batch()
    ref_loss, ref_grads = lora_grads(model, full_logits_nll, ids, labels, mask)
    loss, grads = lora_grads(model, response_nll, ids, labels, mask)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6)
    with torch.no_grad():  # the training loss the proxy used before: the model's own, from labels
        own = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert float(own) == pytest.approx(float(ref_loss), rel=1e-6)
    assert ref_grads.keys() == grads.keys() and len(grads) == 2 * 3 * 2  # A and B of q and v in 3 layers
    for name, g in grads.items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(g, ref_grads[name], rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        summed = (response_nll(model, ids, labels, mask, reduction="sum"),
                  full_logits_nll(model, ids, labels, mask, reduction="sum"))
    assert float(summed[0]) == pytest.approx(float(summed[1]), rel=1e-6)


def test_the_full_logit_path_serves_models_whose_logits_are_not_head_of_decoder():
    class Scaled(type(tiny_llama())):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2
            return out

    assert LoRAProxy(device="cpu")._nll(tiny_llama()) is response_nll
    assert LoRAProxy(device="cpu")._nll(Scaled(tiny_llama().config).eval()) is full_logits_nll


def test_lora_copy_shares_weights_and_leaves_the_base_untouched():
    base = tiny_llama()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    with pytest.raises(RuntimeError, match="inside"), lora_copy(base, config) as model:
        assert model.get_output_embeddings().weight is base.get_output_embeddings().weight
        assert not any(p.requires_grad for p in base.parameters())
        raise RuntimeError("inside")
    assert all(p.requires_grad for p in base.parameters()), "flags restored even when the fit fails"
    assert type(base.model.layers[0].self_attn.q_proj) is torch.nn.Linear, "LoRA went into the copy's tree"
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())


def test_a_fit_leaves_the_cached_base_bit_identical(tiny_lm):
    p = LoRAProxy(model=tiny_lm, token_budget=600, max_length=64, batch_size=8, lr=5e-2, lora_r=4, device="cpu")
    base, _ = p._base("cpu")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    flags = [q.requires_grad for q in base.parameters()]
    val = chat_examples(8, seed=2)
    untrained = p.base_loss(val)
    score = p.evaluate(chat_examples(16, seed=1), val)
    assert score.metrics["loss"] != pytest.approx(untrained), "the fit did change the adapted model"
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())
    assert [q.requires_grad for q in base.parameters()] == flags and not base.training
    assert p.base_loss(val) == untrained


def test_release_memory_without_a_trim(monkeypatch):
    proxy_lm.release_memory()  # glibc here: trims
    monkeypatch.setattr(proxy_lm, "_malloc_trim", lambda: None)
    proxy_lm.release_memory()  # a C library without malloc_trim: only collects


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    model = lora(tiny_llama())
    model.train()
    ids, labels, mask = batch()
    ref_loss, ref_grads = lora_grads(model, response_nll, ids, labels, mask)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert model.base_model.model.model.layers[0].gradient_checkpointing
    loss, grads = lora_grads(model, response_nll, ids, labels, mask)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6)
    for name, g in grads.items():
        torch.testing.assert_close(g, ref_grads[name], rtol=1e-5, atol=1e-7)


def test_a_checkpointed_fit_scores_as_a_plain_one_and_leaves_the_base_without_checkpointing(tiny_lm):
    args = dict(model=tiny_lm, token_budget=600, max_length=64, batch_size=8, lr=5e-2, lora_r=4, device="cpu")
    train, val = chat_examples(16, seed=1), chat_examples(8, seed=2)
    plain = LoRAProxy(**args).evaluate(train, val)
    checkpointed_proxy = LoRAProxy(**args, gradient_checkpointing=True)
    checkpointed = checkpointed_proxy.evaluate(train, val)
    assert checkpointed.metrics["loss"] == pytest.approx(plain.metrics["loss"], rel=1e-5)
    base, _ = checkpointed_proxy._base("cpu")
    assert not any(getattr(layer, "gradient_checkpointing", False) for layer in base.model.layers)
