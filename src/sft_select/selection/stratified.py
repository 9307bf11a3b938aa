"""`stratified`: a seeded random sample, stratified by class and diversity cluster, with flagged rows left out.

The guard's fallback (tune/guard.py) when no scored selection beats random subsets of its size on the
held-out validation rows: it keeps a random sample's lack of bias, removes what the views are surest of
(rows flagged as likely label errors or defects; duplicates are already gone in preprocessing), and
stratifies so that every class and every cluster keeps its share of S. Also a strategy of its own.

Groups are (label, diversity_cluster) where each column exists. Seats go to the groups by the Sainte-Laguë
rule in proportion to their candidate counts before flagged rows are removed (as in coverage.py), and each
group's rows are offered in a seeded random order, drawn over the rows sorted by id (independent of the
table's row order).
"""
from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig
from sft_select.selection.coverage import flag_reason, flagged_rows


def strata(table: pd.DataFrame) -> np.ndarray:
    """Each row's stratum: its label and its diversity cluster, as far as the table has them."""
    parts = []
    for col in ("label", "diversity_cluster"):
        if col in table and table[col].notna().any():
            parts.append(table[col].astype(object).where(table[col].notna(), "-").astype(str).to_numpy())
    if not parts:
        return np.full(len(table), "all", dtype=object)
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + "|" + p
    return out


def select_stratified(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    walk = Walk(table, cfg, ctx)
    keys = strata(table)
    flag, flagged_by = flagged_rows(table) if cfg.drop_flagged else (np.zeros(len(table), bool), [])
    ids = table["id"].to_numpy()
    members: dict[str, list[int]] = {}
    for pos in walk.order:
        members.setdefault(keys[pos], []).append(int(pos))
    rng = np.random.default_rng(seed)
    queues: dict[str, list[int]] = {}
    for g in sorted(members):
        clean = []
        for pos in members[g]:
            if flag[pos]:
                walk.refuse(pos, flag_reason(flagged_by[pos]))
            else:
                clean.append(pos)
        clean.sort(key=lambda p: ids[p])
        if clean:
            queues[g] = [clean[i] for i in rng.permutation(len(clean))]
    weight = {g: len(members[g]) for g in queues}
    seats = {g: 0 for g in queues}
    heap = [(-weight[g], g) for g in sorted(queues)]
    heapq.heapify(heap)
    rank = 0
    while heap and not walk.full:
        _, g = heapq.heappop(heap)
        pos = queues[g][seats[g]]
        walk.offer(pos, rank)
        seats[g] += 1
        rank += 1
        if seats[g] < len(queues[g]):
            heapq.heappush(heap, (-weight[g] / (2 * seats[g] + 1), g))
    for g, queue in queues.items():
        for pos in queue:
            if not walk.keep[pos] and walk.reasons[pos] is None:
                walk.refuse(pos, f"not_selected: outside the seed-{seed} stratified sample (stratum '{g}' has "
                                 f"{seats[g]} of N={walk.size})")
    return walk.result()


STRATEGY = Strategy(select_stratified)
