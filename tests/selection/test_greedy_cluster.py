"""Greedy within diversity clusters (`greedy.scope: cluster`): the local executor's answers."""
from __future__ import annotations

import numpy as np
import pytest
from sel_helpers import ArrayContext, clustered, make_pool

import sft_select.selection.greedy_cluster as greedy_cluster
from sft_select.core.errors import ConfigError
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import select


def clustered_pool(seed: int = 0, n: int = 150, n_clusters: int = 5):
    """A toy pool whose `diversity_cluster` is the cluster its vector was drawn around."""
    table, examples = make_pool(n=n, seed=seed)
    X, cl = clustered(n_clusters=n_clusters, per=n // n_clusters, seed=seed)
    perm = np.random.default_rng(seed).permutation(len(X))[:n]
    X, cl = X[perm], cl[perm]
    table["diversity_cluster"] = cl
    return table, examples, ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X)}), X, cl


def cfg(tau_div: float = 0.9, **kw) -> SelectConfig:
    return SelectConfig(strategy="greedy", greedy={"scope": "cluster", "tau_div": tau_div}, **kw)


def test_one_cluster_is_the_global_greedy():
    table, examples, ctx, X, _ = clustered_pool(1)
    table["diversity_cluster"] = 0
    inside = select(table, cfg(n=40, tau_div=0.7), ctx=ctx)
    glob = select(table, SelectConfig(strategy="greedy", n=40, greedy={"tau_div": 0.7}), ctx=ctx)
    assert np.array_equal(inside.keep, glob.keep)
    assert [r.split(" (same")[0] if r else r for r in inside.reasons] == glob.reasons


def test_never_two_above_tau_within_a_cluster_but_across_clusters_allowed():
    table, examples, ctx, X, cl = clustered_pool(2)
    sel = select(table, cfg(n=80, tau_div=0.6), ctx=ctx)
    kept = np.flatnonzero(sel.keep)
    S = X[kept] @ X[kept].T
    same = cl[kept][:, None] == cl[kept][None, :]
    np.fill_diagonal(S, -1)
    assert S[same].max() <= 0.6 + 1e-6
    # two near-identical vectors put in different clusters are both kept
    a, b = kept[0], kept[1]
    X2 = X.copy()
    X2[b] = X2[a]
    table.loc[b, "diversity_cluster"] = cl[a] + 100
    sel2 = select(table, cfg(n=80, tau_div=0.6), ctx=ArrayContext(examples, {ex.id: v for ex, v in zip(examples, X2)}))
    assert sel2.keep[a] and sel2.keep[b]


def test_reasons_name_the_pick_in_the_same_cluster():
    table, examples, ctx, X, cl = clustered_pool(3)
    ids = table["id"].tolist()
    sel = select(table, cfg(n=50, tau_div=0.7), ctx=ctx)
    skipped = [(i, r) for i, r in enumerate(sel.reasons) if r and r.startswith("too_similar")]
    assert skipped
    for i, r in skipped:
        j = ids.index(r.split(" to ")[1].split(" ")[0])
        assert cl[i] == cl[j] and sel.keep[j] and float(X[i] @ X[j]) > 0.7


def test_stopping_at_n_and_small_blocks_do_not_change_the_answer(monkeypatch):
    """Per cluster the greedy stops checking after N picks; it must select what checking everything does."""
    table, examples, ctx, X, cl = clustered_pool(4)
    capped = select(table, cfg(n=25, tau_div=0.7), ctx=ctx)
    everything = select(table, cfg(fraction=1.0, tau_div=0.7), ctx=ctx)
    survivors = [i for i in np.argsort(-table["score"].fillna(-1).to_numpy(), kind="stable") if everything.keep[i]]
    assert sorted(np.flatnonzero(capped.keep)) == sorted(survivors[:25])
    monkeypatch.setattr(greedy_cluster, "BLOCK", 5)
    small = select(table, cfg(n=25, tau_div=0.7), ctx=ctx)
    assert np.array_equal(small.keep, capped.keep) and small.reasons == capped.reasons


def test_needs_the_diversity_cluster_column():
    table, examples, ctx, X, cl = clustered_pool(5)
    with pytest.raises(ConfigError, match="diversity_cluster"):
        select(table.drop(columns="diversity_cluster"), cfg(n=10), ctx=ctx)


def test_global_greedy_on_another_engine_says_it_runs_on_the_driver(monkeypatch):
    """Only the ranking goes to the executor; the global walk stays here and an info line says so."""
    from sft_select.executors.local import LocalExecutor
    from sft_select.selection import strategies

    class OtherEngine(LocalExecutor):
        remote_workers = True

    said = []
    monkeypatch.setattr(strategies, "info", said.append)
    table, examples, ctx, X, cl = clustered_pool(6)
    plain = select(table, SelectConfig(strategy="greedy", n=30, greedy={"tau_div": 0.7}), ctx=ctx)
    ctx.executor = OtherEngine()
    other = select(table, SelectConfig(strategy="greedy", n=30, greedy={"tau_div": 0.7}), ctx=ctx)
    assert np.array_equal(plain.keep, other.keep) and plain.reasons == other.reasons
    assert len(said) == 1 and "greedy.scope: cluster" in said[0]
