"""The score table: one row per example id, one column per view, kept apart from the examples.

Columns: `id`, `source`, `row`, `label`, `chars`, `filter_reason` (set by preprocessing), `dup_cluster`,
`dup_kind`, per view `<view>_raw`, `<view>_reason`, `<view>` (normalized) and `<view>_contrib`, then
`score` (combined), `selected`, `reason` (why an example is not selected) and `kept_id` (the duplicate
kept in its place).
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.selection.combine import ViewWeight, combine
from sft_select.preprocess.clusters import resolve
from sft_select.preprocess.run import PreprocessResult
from sft_select.core.record import Example
from sft_select.scoring.driver import ScoringResult
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import Context, select


def base_table(examples: Sequence[Example], pre: PreprocessResult) -> pd.DataFrame:
    ids = [ex.id for ex in examples]
    cluster, kind = pre.clusters.columns(ids)
    return pd.DataFrame({
        "id": ids,
        "source": [ex.source for ex in examples],
        "row": np.array([ex.row for ex in examples], dtype=np.int64),
        "label": [ex.label for ex in examples],
        "chars": np.array([len(ex.content) for ex in examples], dtype=np.int64),
        "filter_reason": [pre.drops.get(i) for i in range(len(examples))],
        "dup_cluster": cluster,
        "dup_kind": kind,
    })


def add_scores(table: pd.DataFrame, scoring: ScoringResult, scored_positions: np.ndarray) -> pd.DataFrame:
    """Put each view's raw values (scored on a subset of rows) into full-length columns."""
    table = table.copy()
    for vs in scoring.scores:
        raw = np.full(len(table), np.nan)
        raw[scored_positions] = vs.raw
        reasons = np.full(len(table), None, dtype=object)
        reasons[scored_positions] = vs.reasons
        table[f"{vs.name}_raw"] = raw
        table[f"{vs.name}_reason"] = reasons
        for key, values in vs.extra.items():
            table[f"{vs.name}_{key}"] = _full_column(values, scored_positions, len(table))
    return table


def _full_column(values: np.ndarray, positions: np.ndarray, n: int) -> pd.Series:
    """A view's extra values at `positions`, missing elsewhere; ints and bools stay ints and bools."""
    if values.dtype.kind in "iub":
        dtype = "boolean" if values.dtype.kind == "b" else "Int64"
        col = pd.Series(pd.array([pd.NA] * n, dtype=dtype))
        col.iloc[positions] = values
        return col
    if values.dtype.kind == "f":
        out = np.full(n, np.nan)
    else:
        out = np.full(n, None, dtype=object)
    out[positions] = values
    return pd.Series(out)


def view_names(table: pd.DataFrame) -> list[str]:
    return [c[: -len("_raw")] for c in table.columns if c.endswith("_raw")]


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
    if executor is not None:
        ctx = copy.copy(ctx or Context())  # a shallow copy: the caller's context keeps its own executor
        ctx.executor = executor
    chosen = select(table, select_cfg, seed, ctx)  # ctx: the examples, for strategies that embed or count tokens
    table["selected"] = chosen.keep
    table["reason"] = chosen.reasons
    return table, weights
