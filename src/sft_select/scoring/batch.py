"""`ScoreBatch`: the batch function of a scoring pass, every fitted view on one batch of examples.

An executor maps it over the pool without knowing what it scores: it takes a list of examples and
returns a dict of equal-length numpy columns (numbers, bools, strings), which any engine can carry
(Ray Data turns them into Arrow blocks). Scoring all views in one pass means the examples travel to a
worker once, each worker unpickles the fitted views once, and the embedding of a batch is computed once:
the first view that asks `embed_examples` fills the in-process memo and the others read it.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.views.base import View, ViewResult

_SEP = "/"  # column names are `<view>/raw`, `<view>/reason`, `<view>/has_reason`, `<view>/seconds`, `<view>/x/<key>`


class ScoreBatch:
    """Picklable: holds fitted views (parameters and fitted state; models load lazily in each process)."""

    def __init__(self, views: Sequence[View]):
        self.views = list(views)
        self._shipped = False

    def __setstate__(self, state: dict) -> None:
        # An unpickled copy runs in a worker: its embedding memo serves this batch's views only, so it is
        # emptied after each batch (the disk cache keeps the vectors); the driver's memo is left alone,
        # since later steps of the run (greedy selection) read it.
        self.__dict__.update(state)
        self._shipped = True

    def __call__(self, batch: Sequence[Example]) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        try:
            for view in self.views:
                start = time.perf_counter()
                result = view.score_batch(batch)
                if len(result.raw) != len(batch):
                    raise RuntimeError(f"view {view.name} returned {len(result.raw)} values for {len(batch)} examples")
                columns.update(encode(view.name, result, (time.perf_counter() - start) / max(1, len(batch))))
        finally:
            if self._shipped:
                from sft_select.models.embed.embedders import EmbeddingStore

                EmbeddingStore.forget_memory()
        return columns


def encode(name: str, result: ViewResult, seconds_per_row: float) -> dict[str, np.ndarray]:
    """One view's result as plain columns; a reason of None travels as `has_reason` False (Arrow keeps
    strings and nulls apart less reliably than a bool column)."""
    n = len(result.raw)
    reasons = result.reasons if result.reasons is not None else [None] * n
    cols = {f"{name}{_SEP}raw": np.asarray(result.raw, dtype=np.float64),
            f"{name}{_SEP}reason": np.array(["" if r is None else str(r) for r in reasons], dtype=object),
            f"{name}{_SEP}has_reason": np.array([r is not None for r in reasons], dtype=bool),
            f"{name}{_SEP}seconds": np.full(n, seconds_per_row, dtype=np.float64)}
    for key, values in (result.extra or {}).items():
        cols[f"{name}{_SEP}x{_SEP}{key}"] = np.asarray(values)
    return cols


def decode(name: str, columns: dict[str, np.ndarray]) -> tuple[ViewResult, float]:
    """One view's result and its scoring seconds (summed over rows) from a pass's columns."""
    head = f"{name}{_SEP}"
    raw = np.asarray(columns[head + "raw"], dtype=np.float64)
    reasons = [str(r) if h else None for r, h in zip(columns[head + "reason"], columns[head + "has_reason"])]
    extra = {c[len(head) + 2:]: np.asarray(v) for c, v in columns.items() if c.startswith(head + "x" + _SEP)}
    return ViewResult(raw, reasons, extra or None), float(np.sum(columns[head + "seconds"]))
