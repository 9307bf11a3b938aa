"""Diversity-aware greedy: never two taken examples above τ_div, otherwise score order."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sel_helpers import ArrayContext, clustered, make_pool

from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import select


def pool_with_vectors(seed: int, n: int = 150):
    table, examples = make_pool(n=n, seed=seed)
    X, _ = clustered(n_clusters=6, per=n // 6, seed=seed)
    X = X[np.random.default_rng(seed).permutation(len(X))][:n]
    if len(X) < n:  # clustered() sizes vary; pad with random directions
        extra = np.random.default_rng(seed + 1).normal(size=(n - len(X), X.shape[1]))
        X = np.vstack([X, extra / np.linalg.norm(extra, axis=1, keepdims=True)])
    return table, examples, X


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), tau=st.floats(0.3, 0.98), n=st.integers(1, 120))
def test_never_two_above_tau(seed, tau, n):
    table, examples, X = pool_with_vectors(seed)
    ctx = ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X)})
    sel = select(table, SelectConfig(strategy="greedy", n=n, greedy={"tau_div": tau}), ctx=ctx)
    kept = np.flatnonzero(sel.keep)
    assert 0 < len(kept) <= n
    S = X[kept] @ X[kept].T
    np.fill_diagonal(S, -1)
    assert S.max() <= tau + 1e-6


def test_skips_say_which_example_was_too_close():
    table, examples, X = pool_with_vectors(0)
    ids = table["id"].tolist()
    ctx = ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X)})
    sel = select(table, SelectConfig(strategy="greedy", n=20, greedy={"tau_div": 0.8}), ctx=ctx)
    skipped = [(i, r) for i, r in enumerate(sel.reasons) if r and r.startswith("too_similar")]
    assert skipped
    for i, r in skipped:
        near = r.split(" to ")[1].split(" ")[0]
        j = ids.index(near)
        assert sel.keep[j] and float(X[i] @ X[j]) > 0.8


def test_tau_one_is_plain_top():
    table, examples, X = pool_with_vectors(1)
    ctx = ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X)})
    a = select(table, SelectConfig(strategy="greedy", n=30, greedy={"tau_div": 1.0}), ctx=ctx)
    b = select(table, SelectConfig(strategy="top", n=30))
    assert np.array_equal(a.keep, b.keep)


def test_blocks_do_not_change_the_answer(monkeypatch):
    """Block-wise checking must equal the one-at-a-time definition."""
    import sft_select.selection.greedy as greedy

    table, examples, X = pool_with_vectors(2)
    ctx = ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X)})
    cfg = SelectConfig(strategy="greedy", n=60, greedy={"tau_div": 0.7})
    big = select(table, cfg, ctx=ctx)
    monkeypatch.setattr(greedy, "BLOCK", 7)
    small = select(table, cfg, ctx=ctx)
    assert np.array_equal(big.keep, small.keep) and big.reasons == small.reasons
