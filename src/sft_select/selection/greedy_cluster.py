"""Diversity-aware greedy within clusters (`select.greedy.scope: cluster`), merged by score.

The global greedy (greedy.py) compares each candidate with everything taken so far, which is one
sequential walk over the whole pool. Within clusters, the walk runs separately in each diversity cluster
(the diversity view's `diversity_cluster`): a candidate is refused when it is too similar to one taken
earlier *in its own cluster*. Near-duplicates mostly share a cluster, so this keeps most of the global
greedy's effect, and the clusters are independent: the executor runs them as one task per cluster
(`apply_by_group`; Ray: `groupby(cluster).map_groups`). The survivors are then offered to the `Walk` in
global score order, which applies N, τ and the token budget as for every strategy.

Within a cluster, similarity is checked against the cluster's greedy picks before N and the budget apply:
with `budget_tokens`, a pick that the budget later refuses may still have refused a neighbour.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sft_select.core.errors import ConfigError
from sft_select.selection.base import Context, Selection, Walk
from sft_select.selection.config import SelectConfig

BLOCK = 512


def greedy_in_cluster(cols: dict[str, np.ndarray], shared: dict[str, Any]) -> dict[str, np.ndarray]:
    """One cluster's greedy: `cols["rank"]` are its candidates' places in the global score order, which
    index `shared["ids"]`; `shared["ctx"]` embeds them. Returns per row whether it was refused, its best
    cosine to an earlier pick and that pick's rank. After `cap` picks nothing more is checked: no later
    row of the cluster can be kept."""
    rank = np.asarray(cols["rank"], dtype=np.int64)
    order = np.argsort(rank, kind="stable")
    X = shared["ctx"].embeddings(shared["ids"][rank[order]].tolist(), "strategy greedy")
    with threadpool_limits(limits=1):
        # One BLAS thread: how a product is split over threads changes its last bits, and a similarity that
        # close to tau_div then decides differently in a local worker and a Ray actor (seen under load).
        return _greedy(X, rank, order, shared["tau"], shared["cap"])


def _greedy(X: np.ndarray, rank: np.ndarray, order: np.ndarray, tau: float, cap: int | None) -> dict[str, np.ndarray]:
    refused = np.zeros(len(rank), dtype=bool)
    sim_out = np.full(len(rank), np.nan)
    near_out = np.full(len(rank), -1, dtype=np.int64)
    taken: list[int] = []  # indices into `order`
    for start in range(0, len(order), BLOCK):
        if cap is not None and len(taken) >= cap:
            break
        block = X[start:start + BLOCK]
        before = block @ X[taken].T if taken else np.zeros((len(block), 0), dtype=X.dtype)
        inner = block @ block.T
        local: list[int] = []
        for k in range(len(block)):
            if cap is not None and len(taken) + len(local) >= cap:
                break
            sims = np.concatenate([before[k], inner[k, local]])
            if len(sims) and sims.max() > tau:
                j = int(sims.argmax())
                nearest = taken[j] if j < len(taken) else start + local[j - len(taken)]
                row = order[start + k]
                refused[row], sim_out[row], near_out[row] = True, float(sims[j]), rank[order[nearest]]
            else:
                local.append(k)
        taken.extend(start + k for k in local)
    return {"refused": refused, "sim": sim_out, "near_rank": near_out}


def cluster_groups(table: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The diversity cluster of each row at `positions` as an int64 group number (-1: none)."""
    if "diversity_cluster" not in table:
        raise ConfigError("select.greedy.scope: cluster needs the `diversity_cluster` column that the diversity "
                          "view writes; add it with --views diversity, or use greedy.scope: global")
    codes, _ = pd.factorize(table["diversity_cluster"].to_numpy(dtype=object)[positions], use_na_sentinel=True)
    return codes.astype(np.int64)


def select_greedy_clusters(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0,
                           ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    walk = Walk(table, cfg, ctx)
    order = walk.order
    groups = cluster_groups(table, order)
    ids = table["id"].to_numpy()[order]
    executor = getattr(ctx, "executor", None)  # a duck-typed context (streaming runs) may have none
    if executor is None:
        from sft_select.executors.local import LocalExecutor

        executor = LocalExecutor()
    cap = walk.size if cfg.budget_tokens is None else None
    # the Context travels to the workers (Ray: once, through the object store) and embeds each cluster
    # there, from the embedding cache when the diversity view has filled it
    shared = {"ctx": ctx, "ids": ids, "tau": cfg.greedy.tau_div, "cap": cap}
    found = executor.apply_by_group(greedy_in_cluster, groups, {"rank": np.arange(len(order), dtype=np.int64)},
                                    shared)
    for rank, pos in enumerate(order):
        if walk.full:
            walk.rest_not_selected(order[rank:], rank)
            break
        if found["refused"][rank]:
            near = ids[found["near_rank"][rank]]
            walk.refuse(pos, f"too_similar: cos {found['sim'][rank]:.3f} to {near} > τ_div={cfg.greedy.tau_div} "
                             "(same diversity cluster)")
        else:
            walk.offer(pos, rank)
    return walk.result()
