"""Exact dedup: examples whose normalized content hashes to the same 128-bit xxhash are linked.

Hashing runs here, per example; grouping equal hashes is a global step of the executor
(`first_of_equal`: numpy on the local engine, a hash shuffle on the Ray engine).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xxhash

from sft_select.normalize import normalize_for_dedup
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.record import Example


def dedup_key(ex: Example) -> bytes:
    text = normalize_for_dedup(ex.content) if ex.text is None else normalize_for_dedup(ex.text)
    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


def link_exact(examples: Sequence[Example], clusters: DuplicateClusters, positions: Sequence[int],
               executor=None) -> int:
    """Link examples (at `positions` of the pool) sharing a normalized-content hash; returns links made.
    `executor` (default: local) groups the hashes."""
    if executor is None:
        from sft_select.executors.local import LocalExecutor

        executor = LocalExecutor()
    pos = np.asarray(positions, dtype=np.int64)
    # the 128-bit digest as two little-endian uint64 words: the key columns the executor groups by
    keys = np.frombuffer(b"".join(dedup_key(examples[p]) for p in pos), dtype="<u8").reshape(len(pos), 2)
    first = executor.first_of_equal(keys.astype(np.uint64)) if len(pos) else np.zeros(0, dtype=np.int64)
    dup = np.flatnonzero(first != np.arange(len(pos)))
    return clusters.link(zip(pos[first[dup]].tolist(), pos[dup].tolist()), "exact")
