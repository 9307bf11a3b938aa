"""Combine → resolve duplicate clusters → select, on a scored table: the step after scoring that a run,
`sft-select select` and the tune loop's every trial share. Re-runnable from a saved table with new settings.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import pandas as pd

from sft_select.preprocess.clusters import resolve
from sft_select.selection.combine import ViewWeight, combine
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import Context, select
from sft_select.views.registry import registered


def weight_specs(cfg: Any, names: Sequence[str]) -> list[ViewWeight]:
    """Each scored view's weight, normalization, direction and floor, from the run's config (`Config`, which
    sits above selection in the layers: only its `views` and `combine` sections are read)."""
    views = registered()
    specs = []
    for name in names:
        s = cfg.views.settings.get(name)
        specs.append(ViewWeight(name=name, weight=s.weight if s else None,
                                normalize=(s.normalize if s and s.normalize else cfg.combine.normalize),
                                higher_is_better=views[name].higher_is_better,
                                floor=s.floor if s else None))
    return specs


def finalize(table: pd.DataFrame, specs: list[ViewWeight], select_cfg: SelectConfig, *, keep: str,
             weights_policy: str, seed: int, ctx: Context | None = None,
             executor=None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Combine → resolve duplicate clusters → select. Re-runnable from a saved table with new settings.
    `executor` (default: local) runs selection's global steps: the ranking and the per-cluster greedy."""
    drop = [c for c in ("score", "selected", "reason", "kept_id") if c in table]
    drop += [c for s in specs for c in (s.name, f"{s.name}_contrib") if c in table]
    table = table.drop(columns=drop).copy()
    table["reason"] = table["filter_reason"]
    table["kept_id"] = None
    table, weights = combine(table, specs, weights_policy)
    table = resolve(table, keep)
    # A strategy's walk reads a missing reason as None; pandas stores a column of strings and None read
    # from a list (an in-memory run's filter reasons) with NaN for the missing ones.
    reason = table["reason"]
    table["reason"] = reason.astype(object).where(reason.notna(), None)
    if executor is not None:
        ctx = copy.copy(ctx or Context())  # a shallow copy: the caller's context keeps its own executor
        ctx.executor = executor
    chosen = select(table, select_cfg, seed, ctx)  # ctx: the examples, for strategies that embed or count tokens
    table["selected"] = chosen.keep
    table["reason"] = chosen.reasons
    return table, weights
