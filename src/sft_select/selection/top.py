"""`top`: the combined score's order, highest first, until N or the token budget is spent."""
from __future__ import annotations

import pandas as pd

from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig
from sft_select.selection.coverage import flag_reason, flagged_rows


def select_top(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    """Highest combined score first, until N or the token budget is spent; rows a view flagged (a likely label
    error, a defect) are left out unless `drop_flagged` is off."""
    walk = Walk(table, cfg, ctx)
    flag, flagged_by = flagged_rows(table) if cfg.drop_flagged else (None, None)
    rank = 0
    for pos in walk.order:
        if flag is not None and flag[pos]:
            walk.refuse(pos, flag_reason(flagged_by[pos]))
            continue
        walk.offer(pos, rank)
        rank += 1
    return walk.result()


STRATEGY = Strategy(select_top)
