"""The score table: one row per example id, one column per view, kept apart from the examples.

Columns: `id`, `source`, `row`, `label`, `chars`, `filter_reason` (set by preprocessing), `dup_cluster`,
`dup_kind`, per view `<view>_raw`, `<view>_reason`, `<view>` (normalized) and `<view>_contrib`, then
`score` (combined), `selected`, `reason` (why an example is not selected) and `kept_id` (the duplicate
kept in its place).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.core.record import Example
from sft_select.preprocess.run import PreprocessResult
from sft_select.scoring.driver import ScoringResult


def base_columns(examples: Sequence[Example], drops: dict[int, str]) -> pd.DataFrame:
    """The columns every run's table starts with, for `examples` in pool order; `drops`: position -> the
    filter or decontamination reason. The streaming engine builds a chunk's part with it and adds the
    duplicate columns after its global dedup."""
    return pd.DataFrame({
        "id": [ex.id for ex in examples],
        "source": [ex.source for ex in examples],
        "row": np.array([ex.row for ex in examples], dtype=np.int64),
        "label": [ex.label for ex in examples],
        "chars": np.array([len(ex.content) for ex in examples], dtype=np.int64),
        "filter_reason": [drops.get(i) for i in range(len(examples))],
    })


def base_table(examples: Sequence[Example], pre: PreprocessResult) -> pd.DataFrame:
    table = base_columns(examples, pre.drops)
    table["dup_cluster"], table["dup_kind"] = pre.clusters.columns(table["id"].tolist())
    return table


def put_view(table: pd.DataFrame, name: str, raw, reasons, extra, positions: np.ndarray) -> None:
    """One view's values (scored on the rows at `positions`) as full-length columns of `table`, in place:
    `<view>_raw`, `<view>_reason` and `<view>_<key>` per extra value."""
    n = len(table)
    values = np.full(n, np.nan)
    values[positions] = raw
    why = np.full(n, None, dtype=object)
    why[positions] = reasons if reasons is not None else None
    table[f"{name}_raw"] = values
    table[f"{name}_reason"] = why
    for key, column in (extra or {}).items():
        table[f"{name}_{key}"] = _full_column(np.asarray(column), positions, n)


def add_scores(table: pd.DataFrame, scoring: ScoringResult, scored_positions: np.ndarray) -> pd.DataFrame:
    """Put each view's raw values (scored on a subset of rows) into full-length columns."""
    table = table.copy()
    for vs in scoring.scores:
        put_view(table, vs.name, vs.raw, vs.reasons, vs.extra, scored_positions)
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

