"""Quotas: every group (class label, or diversity cluster) gets its share of S, best score first inside it.

Shares are handed out one seat at a time by the Sainte-Laguë rule (next seat to the group with the largest
weight / (2·seats + 1)), so every prefix of the order is itself a fair apportionment: whichever limit
stops the walk (N, token budget), the groups are as close to their shares as whole examples allow.
`proportional` weighs a group by its candidate count (the pool's mix is kept), `equal` weighs all groups
alike (a balanced S, capped by what a small group has). `min_per_group` seats are given out first.
"""
from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig

NO_GROUP = "(none)"


def group_keys(table: pd.DataFrame, by: str) -> np.ndarray:
    """The quota group of every row, as strings; a clear error when the column is not there."""
    if by == "label":
        if "label" not in table or table["label"].isna().all():
            raise ConfigError("select.quota_by: label needs labelled data (text/label rows); "
                              "use quota_by: cluster for instruction data")
        col = table["label"]
    else:
        if "diversity_cluster" not in table:
            raise ConfigError("select.quota_by: cluster needs the `diversity_cluster` column that the diversity "
                              "view writes; add it with --views diversity, or use quota_by: label")
        col = table["diversity_cluster"]
    return np.array([NO_GROUP if pd.isna(v) else str(v) for v in col], dtype=object)


def select_quota(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    walk = Walk(table, cfg, ctx)
    keys = group_keys(table, cfg.quota_by)
    members: dict[str, list[int]] = {}
    for pos in walk.order:  # score order, so each group's list is best first
        members.setdefault(keys[pos], []).append(int(pos))
    floors = {g: min(cfg.min_per_group, len(m)) for g, m in members.items()}
    if walk.size is not None and sum(floors.values()) > walk.size:
        raise ConfigError(f"select.min_per_group: {len(members)} groups × {cfg.min_per_group} = "
                          f"{sum(floors.values())} examples exceed N={walk.size}")
    nxt = {g: 0 for g in members}  # next member to offer
    seats = {g: 0 for g in members}
    rank = 0

    def offer(g: str) -> None:
        nonlocal rank
        pos = members[g][nxt[g]]
        nxt[g] += 1
        if walk.offer(pos, rank):
            seats[g] += 1
        rank += 1

    # Minimum seats first, round robin in order of each group's best score.
    by_best = sorted(members, key=lambda g: (-walk.scores[members[g][0]], g))
    for _ in range(max(floors.values(), default=0)):
        for g in by_best:
            if seats[g] < floors[g] and nxt[g] < len(members[g]) and not walk.full:
                offer(g)

    weight = {g: (len(m) if cfg.quota == "proportional" else 1.0) for g, m in members.items()}

    def entry(g: str) -> tuple[float, float, str]:
        return (-weight[g] / (2 * seats[g] + 1), -walk.scores[members[g][nxt[g]]], g)

    heap = [entry(g) for g in members if nxt[g] < len(members[g])]
    heapq.heapify(heap)
    while heap and not walk.full:
        _, _, g = heapq.heappop(heap)
        offer(g)
        if nxt[g] < len(members[g]):
            heapq.heappush(heap, entry(g))
    for g, m in members.items():
        for pos in m[nxt[g]:]:
            walk.refuse(pos, f"quota_full: {cfg.quota_by} '{g}' has its {seats[g]} of N={walk.size}")
    return walk.result()


STRATEGY = Strategy(select_quota)
