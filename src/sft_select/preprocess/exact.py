"""Exact dedup: examples whose normalized content hashes to the same 128-bit xxhash are linked."""
from __future__ import annotations

from typing import Sequence

import xxhash

from sft_select.normalize import normalize_for_dedup
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.record import Example


def dedup_key(ex: Example) -> bytes:
    text = normalize_for_dedup(ex.content) if ex.text is None else normalize_for_dedup(ex.text)
    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


def link_exact(examples: Sequence[Example], clusters: DuplicateClusters, positions: Sequence[int]) -> int:
    """Link examples (at `positions` of the pool) sharing a normalized-content hash; returns links made."""
    first: dict[bytes, int] = {}
    pairs = []
    for pos in positions:
        key = dedup_key(examples[pos])
        if key in first:
            pairs.append((first[key], pos))
        else:
            first[key] = pos
    return clusters.link(pairs, "exact")
