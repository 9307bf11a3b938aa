"""Batching code on a tiny random Llama: padding and bucketing must not change any number."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sft_select.models.lm.forward import capabilities, length_batches, sequence_losses, shared_prefix_length


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def tiny_llama(request):
    """A real LlamaForCausalLM, randomly initialized and small, under both attention implementations."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         attn_implementation=request.param)
    return LlamaForCausalLM(config).eval()


def random_seqs(n: int, seed: int = 0, head: list[int] | None = None) -> list[tuple[list[int], int]]:
    """(ids, context) pairs of random lengths; every sequence starts with `head` when given."""
    rng = np.random.default_rng(seed)
    head = head or []
    seqs = []
    for _ in range(n):
        length = int(rng.integers(3, 60))
        seqs.append((head + rng.integers(1, 97, length).tolist(), len(head) + int(rng.integers(1, length))))
    return seqs


def reference_losses(model, seqs) -> np.ndarray:
    """Each sequence alone, unpadded, through the model's own forward and logits."""
    out = []
    for ids, context in seqs:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        nll = torch.nn.functional.cross_entropy(logits[context - 1:-1], torch.tensor(ids[context:]))
        out.append(nll.item())
    return np.array(out)


def test_batched_equals_one_by_one(tiny_llama):
    seqs = random_seqs(25)
    batched = sequence_losses(tiny_llama, seqs, pad_id=0, batch_tokens=1024)
    alone = sequence_losses(tiny_llama, seqs, pad_id=0, batch_tokens=1)  # one sequence per batch
    assert len(length_batches([len(s[0]) for s in seqs], 1024)) < len(seqs)  # really batched, with padding
    np.testing.assert_allclose(batched, alone, atol=1e-4, rtol=0)
    np.testing.assert_allclose(batched, reference_losses(tiny_llama, seqs), atol=1e-4, rtol=0)


def test_shared_prefix_cache_changes_nothing(tiny_llama):
    assert capabilities(tiny_llama) == (True, True)  # both fast paths are really taken below
    seqs = random_seqs(20, seed=2, head=[5, 9, 13, 17, 21, 25, 29, 33, 37, 41])
    assert shared_prefix_length(seqs) == 10
    shared = sequence_losses(tiny_llama, seqs, pad_id=0, batch_tokens=512)
    plain = sequence_losses(tiny_llama, seqs, pad_id=0, batch_tokens=512, share_prefix=False)
    np.testing.assert_allclose(shared, plain, atol=1e-4, rtol=0)
    np.testing.assert_allclose(shared, reference_losses(tiny_llama, seqs), atol=1e-4, rtol=0)


def test_shared_prefix_stops_before_the_first_scored_token():
    seqs = [([1, 2, 3, 4, 5, 6, 7, 8], 6), ([1, 2, 3, 4, 5, 6, 9], 7)]
    assert shared_prefix_length(seqs) == 5  # position 5 predicts token 6 of the first sequence
    assert shared_prefix_length([([1, 2, 3, 4, 5, 6], 3), ([1, 2, 3, 4, 5, 7], 3)]) == 0  # too short to bother
    assert shared_prefix_length([([1, 2, 3, 4, 5, 6, 7], 6), ([9, 2, 3, 4, 5, 6, 7], 6)]) == 0


def test_pad_token_value_does_not_matter(tiny_llama):
    seqs = random_seqs(12, seed=1)
    a = sequence_losses(tiny_llama, seqs, pad_id=0, batch_tokens=4096)
    b = sequence_losses(tiny_llama, seqs, pad_id=96, batch_tokens=4096)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_length_batches_cover_each_index_once_within_budget():
    lengths = [5, 80, 12, 12, 300, 1, 40, 40, 41]
    batches = length_batches(lengths, batch_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert lengths[b[0]] == width  # longest first: the first row sets the padded width
        assert len(b) == 1 or len(b) * width <= 100  # a sequence longer than the budget goes alone
    assert [4] in batches
