"""The scoring driver: fit each view, score the pool in batches through an executor, cache the result.

This is the part the STYLE guide gives to the base class: batching, progress, timing, caching and
the checks that every view keeps its contract (one finite-or-NaN float per example).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.cache import fingerprint, ids_fingerprint
from sft_select.io.atomic import atomic_path
from sft_select.progress import debug, info
from sft_select.record import Example
from sft_select.views.base import View, ViewResult


@dataclass
class ViewScores:
    name: str
    raw: np.ndarray
    reasons: list[str | None]
    seconds: float
    cached: bool
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # -> score table columns `<view>_<key>`


@dataclass
class ScoringResult:
    scores: list[ViewScores] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # view -> why it did not run


_EXTRA = "extra:"  # prefix of a view's extra columns in its cache file


def cache_key(view: View, pool_fp: str, target_fp: str | None) -> str:
    """Input fingerprint + view name + version + non-default parameters (+ the target it was fit on)."""
    return fingerprint(pool_fp, target_fp, view.name, view.version, view.non_default_params())


def score_view(view: View, pool: Sequence[Example], target: Sequence[Example] | None, executor,
               *, batch_size: int | None = None) -> ViewResult:
    """Fit then score every example of `pool`, checking the contract."""
    view.fit(pool, target)
    parts = executor.map_batches(view.score_batch, pool, batch_size=batch_size or view.default_batch_size,
                                 desc=f"scoring {view.name}")
    raw = np.concatenate([p.raw for p in parts]) if parts else np.zeros(0)
    if len(raw) != len(pool):
        raise RuntimeError(f"view {view.name} returned {len(raw)} values for {len(pool)} examples")
    reasons: list[str | None] = []
    for p in parts:
        reasons.extend(p.reasons if p.reasons is not None else [None] * len(p.raw))
    raw = np.where(np.isinf(raw), np.nan, raw)
    keys = sorted({k for p in parts for k in (p.extra or {})})
    if any(set(p.extra or {}) != set(keys) for p in parts):
        raise RuntimeError(f"view {view.name} returned different extra columns for different batches")
    extra = {k: np.concatenate([p.extra[k] for p in parts]) for k in keys}
    return ViewResult(raw, reasons, extra or None)


def score_all(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None,
              executor, cache_dir: Path | None) -> ScoringResult:
    out = ScoringResult()
    pool_fp = ids_fingerprint(ex.id for ex in pool)
    target_fp = ids_fingerprint(ex.id for ex in target) if target else None
    for view in views:
        why = view.skip_reason(pool, target)
        if why:
            info(f"[yellow]skipping {view.name}[/yellow]: {why}")
            out.skipped[view.name] = why
            continue
        path = cache_dir / f"{view.name}-{cache_key(view, pool_fp, target_fp)}.parquet" if cache_dir else None
        start = time.perf_counter()
        if path is not None and path.exists():
            cached = pd.read_parquet(path)
            raw = cached["raw"].to_numpy(dtype=float)
            reasons = cached["reason"].tolist()
            extra = {c[len(_EXTRA):]: cached[c].to_numpy() for c in cached.columns if c.startswith(_EXTRA)}
            debug(f"{view.name}: cached scores from {path.name}")
            out.scores.append(ViewScores(view.name, raw, reasons, time.perf_counter() - start, True, extra))
            continue
        result = score_view(view, pool, target, executor)
        extra = result.extra or {}
        if path is not None:
            frame = pd.DataFrame({"id": [ex.id for ex in pool], "raw": result.raw, "reason": result.reasons,
                                  **{_EXTRA + k: v for k, v in extra.items()}})
            with atomic_path(path) as tmp:
                frame.to_parquet(tmp, index=False)
        seconds = time.perf_counter() - start
        debug(f"{view.name}: {len(pool)} examples in {seconds:.2f}s")
        out.scores.append(ViewScores(view.name, result.raw, list(result.reasons or []), seconds, False, extra))
    return out
