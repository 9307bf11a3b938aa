"""The lean Llama forward: the model's own numbers, on tiny random Llamas and on SmolLM2 itself."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sft_select.models.lm.forward import sequence_losses
from sft_select.models.lm.lean_llama import LeanLlama, lean_model, supports

from .test_lm_forward import random_seqs, reference_losses


def tiny_llama(**overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    settings = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=256)
    settings.update(overrides)
    model = LlamaForCausalLM(LlamaConfig(**settings)).eval()
    with torch.no_grad():  # non-trivial norm weights, so that folding them into the products is tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.5 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("overrides", [
    {},
    {"num_key_value_heads": 4},  # no grouped-query attention
    {"num_key_value_heads": 1, "head_dim": 16},  # head_dim apart from hidden / heads
    {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}},  # scaled rotary
    {"tie_word_embeddings": True},
])
def test_lean_losses_equal_the_models_own(overrides):
    model = tiny_llama(**overrides)
    lean = lean_model(model, "float32")
    assert isinstance(lean, LeanLlama)
    seqs = random_seqs(20, seed=3)
    reference = reference_losses(model, seqs)
    np.testing.assert_allclose(sequence_losses(lean, seqs, pad_id=0, batch_tokens=4096), reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(sequence_losses(lean, seqs, pad_id=0, batch_tokens=1), reference, atol=1e-4, rtol=0)


def test_lean_prefix_cache_and_padding_change_nothing():
    model = tiny_llama()
    lean = lean_model(model, "float32")
    seqs = random_seqs(20, seed=2, head=[5, 9, 13, 17, 21, 25, 29, 33, 37, 41])
    reference = reference_losses(model, seqs)
    shared = sequence_losses(lean, seqs, pad_id=0, batch_tokens=512)
    plain = sequence_losses(lean, seqs, pad_id=0, batch_tokens=512, share_prefix=False)
    other_pad = sequence_losses(lean, seqs, pad_id=96, batch_tokens=512)
    np.testing.assert_allclose(shared, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(plain, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(other_pad, shared, atol=1e-5, rtol=0)


def test_lean_logits_equal_the_models_own():
    model = tiny_llama()
    lean = lean_model(model, "float32")
    ids = torch.randint(1, 97, (3, 17))
    with torch.inference_mode():
        expected = model(input_ids=ids).logits
        got = lean.head(lean.hidden(ids).reshape(-1, 32)).view(3, 17, -1)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_lean_refuses_what_it_does_not_reproduce():
    from transformers import GPT2Config, GPT2LMHeadModel

    assert supports(tiny_llama())
    assert not supports(tiny_llama(attention_bias=True))
    assert not supports(tiny_llama(hidden_act="gelu"))
    assert not supports(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)))
    assert lean_model(tiny_llama(), "bfloat16") is None  # only float32 and int8 on CPU


def test_smollm2_runs_lean_and_matches_the_transformers_forward(smollm):
    from sft_select.models.lm.stats import compute_stats

    from .test_views import FLUENT, GARBAGE, HELPFUL, UNRELATED

    assert smollm.lean is not None and smollm.runner is smollm.lean
    batch = FLUENT + GARBAGE + [HELPFUL, UNRELATED]
    lean = compute_stats(smollm, batch, max_tokens=128, batch_tokens=1024)
    hf = compute_stats(dataclasses.replace(smollm, lean=None), batch, max_tokens=128, batch_tokens=1024)
    np.testing.assert_allclose(lean, hf, atol=1e-4, rtol=0)
