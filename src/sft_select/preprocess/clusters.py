"""Duplicate clusters across dedup steps (exact, near, semantic), merged by union-find.

Dedup steps only *link* examples; which member of a cluster stays is decided after scoring
(`resolve`), so the kept member can be the one with the best combined score.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd


class DuplicateClusters:
    """Union-find over example positions; remembers which step first linked each merged example."""

    def __init__(self, n: int):
        # A list, not an array: find() runs once per candidate pair, and numpy scalar indexing costs ~5x.
        self.parent: list[int] = list(range(n))
        self.kind: dict[int, str] = {}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def link(self, pairs: Iterable[tuple[int, int]], kind: str) -> int:
        """Merge each pair's clusters; returns how many merges happened."""
        merged = 0
        for a, b in pairs:
            ra, rb = self.find(int(a)), self.find(int(b))
            if ra == rb:
                continue
            lo, hi = min(ra, rb), max(ra, rb)  # the earliest position is the root: stable cluster ids
            self.parent[hi] = lo
            self.kind.setdefault(int(a), kind)
            self.kind.setdefault(int(b), kind)
            merged += 1
        return merged

    def columns(self, ids: Sequence[str]) -> tuple[list[str | None], list[str | None]]:
        """Per example: the cluster id (id of the earliest member) and the kind, None when alone."""
        roots = [self.find(i) for i in range(len(ids))]
        sizes = np.bincount(np.asarray(roots, dtype=np.int64), minlength=len(ids)).tolist()  # plain ints:
        cluster = [ids[r] if sizes[r] > 1 else None for r in roots]  # a pandas lookup per row took seconds
        kinds = [self.kind.get(i, self.kind.get(r)) if sizes[r] > 1 else None for i, r in enumerate(roots)]
        return cluster, kinds


def resolve(table: pd.DataFrame, keep: str = "best") -> pd.DataFrame:
    """Keep one candidate per duplicate cluster; the others get reason `duplicate_<kind>` and `kept_id`.

    `keep="best"` keeps the highest combined score (ties: earliest), `"first"` the earliest in the input.
    """
    table = table.copy()
    if "dup_cluster" not in table or table["dup_cluster"].isna().all():
        return table
    if "kept_id" not in table:
        table["kept_id"] = None
    cand = table[table["dup_cluster"].notna() & table["reason"].isna()]
    order = cand.assign(_pos=np.arange(len(cand)))
    if keep == "best":
        order = order.sort_values(["score", "_pos"], ascending=[False, True], kind="mergesort")
    winners = order.groupby("dup_cluster", sort=False).head(1).set_index("dup_cluster")["id"]
    losers = cand.index[~cand["id"].isin(winners.values)]
    kept = table.loc[losers, "dup_cluster"].map(winners)
    table.loc[losers, "kept_id"] = kept.values
    table.loc[losers, "reason"] = "duplicate_" + _kind_to_winner(table, losers, kept)
    return table


def _kind_to_winner(table: pd.DataFrame, losers: pd.Index, kept: pd.Series) -> pd.Series:
    """How each loser duplicates the member kept in its place: its own link kind, except that when a
    near (or semantic) duplicate won, the exact copies of another member are that looser kind of
    duplicate of the winner, not exact ones."""
    kind = table.loc[losers, "dup_kind"].fillna("exact").astype(str)
    winner_kind = kept.map(table.set_index("id")["dup_kind"]).fillna("exact").astype(str)
    looser = (table[table["dup_kind"].notna() & (table["dup_kind"] != "exact")]
              .groupby("dup_cluster")["dup_kind"].first())
    other = table.loc[losers, "dup_cluster"].map(looser)
    swap = (kind == "exact").values & (winner_kind != "exact").values & other.notna().values
    kind[swap] = other[swap].values
    return kind
