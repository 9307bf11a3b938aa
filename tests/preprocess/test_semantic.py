"""Semantic dedup links within k-means clusters to representatives, without chaining."""
from __future__ import annotations

import numpy as np

from sft_select.preprocess.semantic import similar_pairs


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_links_close_vectors_only():
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=(50, 32)))
    near = unit(base[:10] + 0.02 * rng.normal(size=(10, 32)))  # cosine ~0.99 to its base
    x = np.vstack([base, near])
    res = similar_pairs(x, 0.95, clusters=5, seed=0)
    linked = {tuple(p) for p in res.pairs.tolist()}
    assert {(i, 50 + i) for i in range(10)} <= linked
    assert all(b >= 50 for _, b in linked)  # random base vectors are never that close
    assert np.all(res.similarity >= 0.95)


def test_no_chaining_through_neighbours():
    # a - b - c on an arc: a~b and b~c are over the threshold, a~c is not.
    angles = np.radians([0.0, 14.0, 28.0])
    x = unit(np.stack([np.cos(angles), np.sin(angles)], -1))
    res = similar_pairs(x, 0.96, clusters=1)
    assert res.pairs.tolist() == [[0, 1]]  # b joins a's representative; c is too far from a: its own


def test_block_boundaries_do_not_change_the_result(monkeypatch):
    from sft_select.preprocess import semantic

    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(30, 8)))
    x = np.vstack([x, unit(x + 0.01)])
    full = similar_pairs(x, 0.97, clusters=1).pairs.tolist()
    monkeypatch.setattr(semantic, "_BLOCK", 7)
    assert similar_pairs(x, 0.97, clusters=1).pairs.tolist() == full
