"""Exact dedup: examples whose normalized content hashes to the same 128-bit xxhash are linked.

Hashing runs per example (in the run's worker processes when there are several); grouping equal
hashes is a global step of the executor (`first_of_equal`: numpy on the local engine, a hash shuffle
on the Ray engine).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xxhash

from sft_select.core.normalize import ASCII_CONTROLS, normalize_for_dedup
from sft_select.core.record import Example
from sft_select.preprocess.clusters import DuplicateClusters


def normalized_bytes(text: str) -> bytes:
    """UTF-8 of normalize_for_dedup(text). ASCII text takes bytes.translate/lower/split/join, all in C and
    the same result (controls deleted first, so the whitespace left is what bytes.split splits on)."""
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(None, ASCII_CONTROLS).lower().split())
    return normalize_for_dedup(text).encode("utf-8", "surrogatepass")


def dedup_key(ex: Example) -> bytes:
    return xxhash.xxh3_128_digest(normalized_bytes(ex.content if ex.text is None else ex.text))


def dedup_keys(examples: Sequence[Example]) -> bytes:
    """`dedup_key` of each example, concatenated (16 bytes each)."""
    return b"".join(dedup_key(ex) for ex in examples)


def key_job(examples: Sequence[Example]) -> list[bytes]:
    """`dedup_key` of each example, as a per-example job for `load(alongside=...)`: the keys are then
    hashed while the rest of the input is read (io/read_ahead.py), not in a parallel step of their own
    (which costs two forks)."""
    return [dedup_key(ex) for ex in examples]


def link_exact(examples: Sequence[Example], clusters: DuplicateClusters, positions: Sequence[int],
               executor=None, known: Sequence[bytes] | None = None) -> int:
    """Link examples (at `positions` of the pool) sharing a normalized-content hash; returns links made.
    `executor` (default: local) groups the hashes. `known`: every pool example's `dedup_key`, when
    already computed (`key_job`)."""
    if executor is None:
        from sft_select.executors.local import LocalExecutor

        executor = LocalExecutor()
    pos = np.asarray(positions, dtype=np.int64)
    # the 128-bit digest as two little-endian uint64 words: the key columns the executor groups by
    # (hashed in the executor's worker processes when it has several)
    if known is not None:
        digests = b"".join([known[p] for p in pos.tolist()])
    else:
        digests = b"".join(executor.pool.run_parts(dedup_keys, [examples[p] for p in pos]))
    keys = np.frombuffer(digests, dtype="<u8").reshape(len(pos), 2)
    first = executor.first_of_equal(keys.astype(np.uint64)) if len(pos) else np.zeros(0, dtype=np.int64)
    dup = np.flatnonzero(first != np.arange(len(pos)))
    return clusters.link(zip(pos[first[dup]].tolist(), pos[dup].tolist()), "exact")
