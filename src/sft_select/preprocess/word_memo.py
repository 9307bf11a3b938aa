"""The word hashes of the pool that near dedup last shingled, kept by text for relevance_dsir.

relevance_dsir hashes the same words of the same contents (`shingles.words_of` + xxh3) to fit and to
score, a second pass over the words on top of near dedup's own. Keyed by the text itself, so a hit is
the very computation it replaces; one corpus at a time (the next `remember_words` replaces it), and
only up to MEMO_WORDS words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Words:
    """xxh3 hashes of every token of many texts; text i has `counts[i]` of them, in order. Defined here,
    below shingles (which makes them), so that the memo needs nothing from shingles."""

    hashes: np.ndarray  # uint64
    counts: np.ndarray  # int64


MEMO_WORDS = 50_000_000  # 400 MB of hashes
_memo: dict = {"where": {}, "hashes": np.zeros(0, np.uint64)}


def remember_words(texts: Sequence[str], words: Words) -> None:
    """Keep `words` (the word hashes of `texts`, in order) for `recall_words`, replacing what was kept."""
    forget_words()
    if len(words.hashes) > MEMO_WORDS:
        return
    starts = (np.cumsum(words.counts) - words.counts).tolist()
    where: dict[str, tuple[int, int]] = {}
    for text, start, count in zip(texts, starts, words.counts.tolist()):
        where.setdefault(text, (start, count))
    _memo.update(where=where, hashes=words.hashes)


def recall_words(texts: Sequence[str]) -> Words | None:
    """`shingles.word_hashes(texts)` from the memo, or None when a text is not in it."""
    where = _memo["where"]
    if not where:
        return None
    locs = list(map(where.get, texts))
    if None in locs:
        return None
    starts = np.fromiter((loc[0] for loc in locs), np.int64, len(locs))
    counts = np.fromiter((loc[1] for loc in locs), np.int64, len(locs))
    first = np.cumsum(counts) - counts
    at = np.repeat(starts - first, counts) + np.arange(int(counts.sum()), dtype=np.int64)
    return Words(_memo["hashes"][at], counts)


def forget_words() -> None:
    """Drop the kept hashes (the end of a run, or of a streaming chunk)."""
    _memo.update(where={}, hashes=np.zeros(0, np.uint64))
