"""Coverage within quotas: drop likely label errors and each group's weakest scores, then cover each group.

The recipe that makes a small labelled subset train as well as a large noisy one (measured in
docs/benchmarks.md, "Selection case study"): top-N by a quality score alone keeps the easiest, most
uniform examples, and random keeps the noise. Here, per group (class label or diversity cluster):

1. rows a view flagged as a likely error (`<view>_issue` True, e.g. quality_label's cleanlab flag) are
   left out (`drop_flagged`), since a flipped label is worse than no example;
2. the lowest `coverage.trim` share of the group's remaining candidates by combined score are left out:
   cleanlab's flag misses some errors, and they gather at the bottom of the quality score;
3. the rest is covered by facility location (facility.py) on embeddings within the group, mixed with
   the combined score by `coverage.mix`, so S spans the group's variety instead of its densest part; or,
   with `coverage.order: <view>`, offered by that view's score, highest first (e.g. difficulty_margin: the
   hardest rows among those whose label steps 1-2 trust: the examples near the decision boundary).

Groups take turns by the Sainte-Laguë rule as in quotas.py (weights = the group's candidate count before
steps 1-2, so a class with many flagged rows keeps its share of S), so every prefix of the order is a fair
apportionment whichever limit (N, token budget) stops the walk. Coverage is computed within a group,
so its cost is the sum of per-group kNN searches, never the whole pool squared.
"""
from __future__ import annotations

import heapq
from typing import Iterator

import numpy as np
import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig
from sft_select.selection.facility import knn_graph
from sft_select.selection.quotas import group_keys

# The settings the tune loop may choose for this strategy (tune/params.py; values from TuneConfig.grid_for).
TUNABLE = ("coverage.trim", "coverage.mix", "coverage.order")


def flagged_rows(table: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Rows any view flagged (`<view>_issue` True), and the first flagging view of each row."""
    flag = np.zeros(len(table), dtype=bool)
    by: list[str | None] = [None] * len(table)
    for col in [c for c in table.columns if c.endswith("_issue")]:
        hit = table[col].fillna(False).to_numpy(dtype=bool)
        for pos in np.flatnonzero(hit & ~flag):
            by[pos] = col[: -len("_issue")]
        flag |= hit
    return flag, by


def flag_reason(view: str | None) -> str:
    """Why a flagged row is left out: a likely label error (quality_label) or a defect (quality_heuristic)."""
    return f"label_issue: flagged by {view}" if view == "quality_label" else f"defect: flagged by {view}"


def _cover(X: np.ndarray, score: np.ndarray, mix: float, knn: int) -> Iterator[int]:
    """Lazy-greedy facility location over one group, yielding local indices in pick order."""
    W = knn_graph(X, knn)
    indptr, indices, data = W.indptr, W.indices, W.data
    cover = np.zeros(len(X))
    col_mass = np.asarray(W.sum(axis=0)).ravel()
    scale = float(col_mass.mean()) or 1.0

    def gain(j: int) -> float:
        rows = indices[indptr[j]:indptr[j + 1]]
        fl = float(np.maximum(data[indptr[j]:indptr[j + 1]] - cover[rows], 0.0).sum())
        return (1 - mix) * fl / scale + mix * score[j]

    # Local index j is the place in score order, so ties go to the better-scored candidate.
    heap = [(-((1 - mix) * col_mass[j] / scale + mix * score[j]), j) for j in range(len(X))]
    heapq.heapify(heap)
    while heap:
        _, j = heapq.heappop(heap)
        g = gain(j)
        if heap and g < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g, j))
            continue
        rows = indices[indptr[j]:indptr[j + 1]]
        cover[rows] = np.maximum(cover[rows], data[indptr[j]:indptr[j + 1]])
        yield j


def _by_view(values: np.ndarray) -> Iterator[int]:
    """Local indices by a view's score, highest first; missing values last, ties in combined-score order."""
    key = np.where(np.isnan(values), np.inf, -values)
    yield from (int(j) for j in np.argsort(key, kind="stable"))


def select_coverage(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    walk = Walk(table, cfg, ctx)
    keys = group_keys(table, cfg.quota_by)
    flag, flagged_by = flagged_rows(table) if cfg.drop_flagged else (np.zeros(len(table), bool), [])
    members: dict[str, list[int]] = {}
    for pos in walk.order:  # score order, best first
        members.setdefault(keys[pos], []).append(int(pos))
    weight = {g: (len(m) if cfg.quota == "proportional" else 1.0) for g, m in members.items()}
    ids = table["id"].to_numpy()
    order_values = None
    if cfg.coverage.order is not None:
        if cfg.coverage.order not in table:
            raise ConfigError(f"select.coverage.order: no view '{cfg.coverage.order}' in the score table; name one of "
                              "the views in use (views.use)")
        order_values = pd.to_numeric(table[cfg.coverage.order], errors="coerce").to_numpy(dtype=float)
    pickers: dict[str, tuple[list[int], Iterator[int]]] = {}
    for g, m in members.items():
        clean = []
        for pos in m:
            if flag[pos]:
                walk.refuse(pos, flag_reason(flagged_by[pos]))
            else:
                clean.append(pos)
        n_trim = int(np.floor(cfg.coverage.trim * len(clean)))
        for pos in clean[len(clean) - n_trim:] if n_trim else []:
            walk.refuse(pos, f"low_in_group: among the lowest {cfg.coverage.trim:.0%} of {cfg.quota_by} '{g}' "
                        f"by score")
        keep = clean[:len(clean) - n_trim]
        if keep and order_values is not None:
            pickers[g] = (keep, _by_view(order_values[keep]))
        elif keep:
            X = ctx.embeddings(ids[keep].tolist(), "strategy coverage")
            score = np.nan_to_num(walk.scores[keep], nan=0.0)
            pickers[g] = (keep, _cover(X, score, cfg.coverage.mix, cfg.knn))
    seats = {g: 0 for g in pickers}
    left = {g: len(pickers[g][0]) for g in pickers}
    heap = [(-weight[g], g) for g in sorted(pickers)]
    heapq.heapify(heap)
    rank = 0
    while heap and not walk.full:
        _, g = heapq.heappop(heap)
        keep, it = pickers[g]
        pos = keep[next(it)]
        left[g] -= 1
        if walk.offer(pos, rank):
            seats[g] += 1
        rank += 1
        if left[g]:
            heapq.heappush(heap, (-weight[g] / (2 * seats[g] + 1), g))
    for g, (keep, _) in pickers.items():
        for pos in keep:
            if not walk.keep[pos] and walk.reasons[pos] is None:
                walk.refuse(pos, f"not_selected: {cfg.quota_by} '{g}' has its {seats[g]} of N={walk.size}")
    return walk.result()


STRATEGY = Strategy(select_coverage, reads_embeddings=True, tunable=TUNABLE)
