"""Selection strategies. Each takes the score table and returns a keep mask plus a reason per dropped row.

Only rows still in the pool (no preprocessing `reason`) are candidates. Ties are broken by id, so a
selection is deterministic for the same scores.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from sft_select.errors import ConfigError
from sft_select.selection.config import SelectConfig

Strategy = Callable[[pd.DataFrame, SelectConfig, int], "Selection"]


class Selection:
    def __init__(self, keep: np.ndarray, reasons: list[str | None]):
        self.keep = keep
        self.reasons = reasons


def _size(cfg: SelectConfig, n_candidates: int) -> int | None:
    if cfg.n is not None:
        return min(cfg.n, n_candidates)
    if cfg.fraction is not None:
        return max(1, int(round(cfg.fraction * n_candidates))) if n_candidates else 0
    return None


def ranked(table: pd.DataFrame) -> np.ndarray:
    """Candidate row positions in descending combined score, ties by id."""
    cand = table.index[table["reason"].isna() & table["score"].notna()]
    sub = table.loc[cand, ["score", "id"]]
    order = sub.sort_values(["score", "id"], ascending=[False, True], kind="mergesort").index
    return table.index.get_indexer(order)


def select_top(table: pd.DataFrame, cfg: SelectConfig, seed: int) -> Selection:
    order = ranked(table)
    keep = np.zeros(len(table), dtype=bool)
    reasons: list[str | None] = list(table["reason"])
    scores = table["score"].to_numpy()
    size = _size(cfg, len(order))
    if size is None and cfg.threshold is None:
        raise ConfigError("select: give a size (-n, --fraction) or a threshold (--threshold)")
    for rank, pos in enumerate(order):
        if cfg.threshold is not None and scores[pos] < cfg.threshold:
            reasons[pos] = f"below_threshold: score {scores[pos]:.3f} < τ={cfg.threshold}"
        elif size is not None and rank >= size:
            reasons[pos] = f"not_selected: rank {rank + 1} > N={size}"
        else:
            keep[pos] = True
    return Selection(keep, reasons)


STRATEGIES: dict[str, Strategy] = {"top": select_top}


def select(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0) -> Selection:
    return STRATEGIES[cfg.strategy](table, cfg, seed)
