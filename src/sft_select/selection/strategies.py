"""Selection strategies by name. Each takes the score table and returns a keep mask plus a reason per row.

Only rows still in the pool (no preprocessing `reason`) are candidates. Ties are broken by id and any
randomness comes from the seed, so a selection is deterministic for the same scores, config and seed.
A strategy that reads the examples (embeddings, tokens) gets them through the `Context`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from sft_select.core.progress import info
from sft_select.selection.active import TUNABLE as ACTIVE_TUNABLE
from sft_select.selection.active import select_active
from sft_select.selection.auto import resolve_auto
from sft_select.selection.base import Context, Selection, Walk, ranked, size_limit
from sft_select.selection.config import SelectConfig
from sft_select.selection.coverage import TUNABLE as COVERAGE_TUNABLE
from sft_select.selection.coverage import flag_reason, flagged_rows, select_coverage
from sft_select.selection.facility import select_facility
from sft_select.selection.greedy import select_greedy
from sft_select.selection.quotas import select_quota
from sft_select.selection.stratified import select_stratified

Strategy = Callable[[pd.DataFrame, SelectConfig, int, Context], Selection]


def select_top(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    """Highest combined score first, until N or the token budget is spent; rows a view flagged (a likely label
    error, a defect) are left out unless `drop_flagged` is off."""
    walk = Walk(table, cfg, ctx)
    flag, flagged_by = flagged_rows(table) if cfg.drop_flagged else (None, None)
    rank = 0
    for pos in walk.order:
        if flag is not None and flag[pos]:
            walk.refuse(pos, flag_reason(flagged_by[pos]))
            continue
        walk.offer(pos, rank)
        rank += 1
    return walk.result()


def select_random(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    """A seeded uniform sample of the candidates above τ: the baseline every selection is measured against.

    The permutation is drawn over candidates sorted by id, so it does not depend on the table's row order.
    """
    walk = Walk(table, cfg, ctx)
    ids = table["id"].to_numpy()[walk.order]
    by_id = walk.order[np.argsort(ids, kind="mergesort")]
    order = by_id[np.random.default_rng(seed).permutation(len(by_id))]
    for rank, pos in enumerate(order):
        if walk.full:
            for rest in order[rank:]:
                walk.refuse(rest, f"not_selected: outside the seed-{seed} random sample of N={walk.size}")
            break
        walk.offer(pos, rank)
    return walk.result()


STRATEGIES: dict[str, Strategy] = {
    "top": select_top,
    "random": select_random,
    "quota": select_quota,
    "greedy": select_greedy,
    "facility": select_facility,
    "coverage": select_coverage,
    "active": select_active,
    "stratified": select_stratified,
}


# Each strategy's settings the tune loop may choose (tune/params.py); a strategy not listed has none.
TUNABLE: dict[str, tuple[str, ...]] = {"coverage": COVERAGE_TUNABLE, "active": ACTIVE_TUNABLE}


def select(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    cfg = resolve_auto(cfg, table)
    # greedy_scope: cluster runs the greedy per diversity cluster on the executor; global is one sequential
    # walk, which stays in this process whatever the engine (so do random, quota and facility).
    if cfg.strategy == "greedy" and cfg.greedy_scope == "cluster":
        from sft_select.selection.greedy_cluster import select_greedy_clusters

        return select_greedy_clusters(table, cfg, seed, ctx)
    if cfg.strategy == "greedy" and getattr(getattr(ctx, "executor", None), "name", "local") != "local":
        info("select: the global greedy runs on the driver; set select.greedy_scope: cluster to run it per "
             "diversity cluster on the cluster")
    return STRATEGIES[cfg.strategy](table, cfg, seed, ctx)


__all__ = ["STRATEGIES", "TUNABLE", "Context", "Selection", "select", "select_top", "select_random", "ranked", "size_limit"]
