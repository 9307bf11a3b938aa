"""What a streamed run saved for the link steps, as their global halves see it after the pass.

A streamed run cannot hold the pool, so a link step is split in two (`steps.Streamed`): per chunk, its
`keep` returns arrays about the chunk's live examples, saved with the chunk (core/shard_cache.py, a
table shard's arrays, memory-mapped back); after the pass, its `link` reads them through `SavedRows`
and links duplicates. Row r is the r-th example that passed the drop steps, in pool order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sft_select.preprocess.clusters import DuplicateClusters


@dataclass
class SavedRows:
    """`chunks`: each chunk's arrays by name, as the steps' `keep` returned them (consecutive in rows);
    `alive`: the pool position of each row; `clusters`: the run's duplicate clusters, over pool
    positions; `distinct_rows`: the rows a step compares, one per exact-duplicate cluster once exact
    dedup has run (a step declared `narrows` sets it)."""

    chunks: list[dict[str, np.ndarray]]
    alive: np.ndarray
    clusters: DuplicateClusters
    distinct_rows: np.ndarray

    @property
    def distinct(self) -> np.ndarray:
        """The pool positions of `distinct_rows`."""
        return self.alive[self.distinct_rows]

    def column(self, name: str) -> np.ndarray:
        """Array `name` of every chunk, one after the other (read into memory)."""
        return np.concatenate([np.asarray(c[name]) for c in self.chunks])

    def rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """`rows` (row numbers, in any order) of array `name`, gathered from the chunks' memory maps."""
        return gather_rows(self.chunks, name, rows)

    def link(self, pairs: np.ndarray, kind: str) -> None:
        """Join the clusters of each pair of rows ((n, 2) row numbers); `kind` names the link
        (`duplicate_<kind>` in rejected.jsonl)."""
        self.clusters.link(zip(self.alive[pairs[:, 0]].tolist(), self.alive[pairs[:, 1]].tolist()), kind)

    def groups(self) -> int:
        """How many clusters the live examples form now (a step's count out)."""
        return len({self.clusters.find(int(p)) for p in self.alive})


def by_shard(sizes: Sequence[int], rows: np.ndarray, *, masks: bool = False):
    """For global rows spread over consecutive shards of `sizes` rows: (shard, rows within it[, mask of
    `rows` in that shard]) for each shard that holds any, in shard order."""
    starts = np.r_[0, np.cumsum(np.asarray(sizes, dtype=np.int64))]
    shard = np.searchsorted(starts, rows, side="right") - 1
    for s in np.unique(shard).tolist():
        mask = shard == s
        yield (s, rows[mask] - starts[s], mask) if masks else (s, rows[mask] - starts[s])


def gather_rows(chunks: list[dict[str, np.ndarray]], name: str, rows: np.ndarray) -> np.ndarray:
    """`rows` (global row numbers, in any order) of a per-chunk array, gathered from the chunks' memory
    maps."""
    first = chunks[0][name]
    out = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
    for s, local, mask in by_shard([len(c[name]) for c in chunks], rows, masks=True):
        out[mask] = chunks[s][name][local]
    return out


def drop_pages(array: np.ndarray) -> None:
    """Give back a memory-mapped array's resident pages (clean file pages: read again if touched)."""
    import mmap

    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)
