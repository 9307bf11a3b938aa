"""Average ranks in numpy: what the rank normalization and the report's Spearman correlation need."""
from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank: `Series.rank()` of NaN-free values, to the bit (every
    rank is a whole or half number), without pandas' per-call overhead."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where each run of equal values starts
    end = np.r_[first[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((first + end + 1) / 2, end - first)
    return ranks
