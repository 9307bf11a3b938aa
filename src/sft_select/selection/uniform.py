"""`random`: a seeded uniform sample of the candidates, the baseline every selection is measured against."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig


def select_random(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    """A seeded uniform sample of the candidates above τ.

    The permutation is drawn over candidates sorted by id, so it does not depend on the table's row order.
    """
    walk = Walk(table, cfg, ctx)
    ids = table["id"].to_numpy()[walk.order]
    by_id = walk.order[np.argsort(ids, kind="mergesort")]
    order = by_id[np.random.default_rng(seed).permutation(len(by_id))]
    for rank, pos in enumerate(order):
        if walk.full:
            for rest in order[rank:]:
                walk.refuse(rest, f"not_selected: outside the seed-{seed} random sample of N={walk.size}")
            break
        walk.offer(pos, rank)
    return walk.result()


STRATEGY = Strategy(select_random)
