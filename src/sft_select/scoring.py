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
from sft_select.io.atomic import atomic_path, remove_path
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


# A view is scored in chunks, each saved to cache/<view>-<key>.parts/ as soon as it is done, so a run
# killed after hours of scoring resumes from its last finished chunk instead of from the start. A chunk
# is a whole number of batches (the batches, hence the scores, are the same as unchunked) and at least
# CHECKPOINT_MIN_EXAMPLES long, so a fast view is not slowed by writing many tiny files.
CHECKPOINT_BATCHES = 16
CHECKPOINT_MIN_EXAMPLES = 4096


def chunk_size(batch_size: int) -> int:
    batches = max(CHECKPOINT_BATCHES, -(-CHECKPOINT_MIN_EXAMPLES // batch_size))
    return batch_size * batches


def score_view(view: View, pool: Sequence[Example], target: Sequence[Example] | None, executor,
               *, batch_size: int | None = None, checkpoints: Path | None = None) -> ViewResult:
    """Fit then score every example of `pool`, checking the contract.

    With `checkpoints` (a folder), each finished chunk is saved there and a chunk already saved by an
    earlier, interrupted call is read back instead of scored again.
    """
    view.fit(pool, target)
    size = batch_size or view.default_batch_size
    step = chunk_size(size)
    n_chunks = -(-len(pool) // step)
    if n_chunks < 2:
        checkpoints = None  # one chunk: the whole-view cache file, written next, is the checkpoint
    results: list[ViewResult] = []
    reused = 0
    for k, start in enumerate(range(0, len(pool), step)):
        chunk = pool[start:start + step]
        part = checkpoints / f"{start:012d}-{start + len(chunk):012d}.parquet" if checkpoints else None
        saved = _read_part(part, chunk) if part is not None else None
        if saved is None:
            desc = f"scoring {view.name}" + (f" [{k + 1}/{n_chunks}]" if n_chunks > 1 else "")
            saved = _score_chunk(view, chunk, executor, size, desc)
            if part is not None:
                _write_part(part, chunk, saved)
        else:
            reused += len(chunk)
        results.append(saved)
    if reused:
        info(f"{view.name}: resuming, {reused} of {len(pool)} examples already scored")
    return _concat(view, results)


def _concat(view: View, parts: Sequence[ViewResult]) -> ViewResult:
    """One result from consecutive parts; every part must carry the same extra columns."""
    raw = np.concatenate([p.raw for p in parts]) if parts else np.zeros(0)
    raw = np.where(np.isinf(raw), np.nan, raw)
    reasons: list[str | None] = []
    for p in parts:
        reasons.extend(p.reasons if p.reasons is not None else [None] * len(p.raw))
    keys = sorted({k for p in parts for k in (p.extra or {})})
    if any(set(p.extra or {}) != set(keys) for p in parts):
        raise RuntimeError(f"view {view.name} returned different extra columns for different batches")
    extra = {k: np.concatenate([np.asarray(p.extra[k]) for p in parts]) for k in keys}
    return ViewResult(raw, reasons, extra or None)


def _score_chunk(view: View, chunk: Sequence[Example], executor, batch_size: int, desc: str) -> ViewResult:
    parts = executor.map_batches(view.score_batch, chunk, batch_size=batch_size, desc=desc)
    result = _concat(view, parts)
    if len(result.raw) != len(chunk):
        raise RuntimeError(f"view {view.name} returned {len(result.raw)} values for {len(chunk)} examples")
    return result


def _frame(ids: list[str], result: ViewResult) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "raw": result.raw, "reason": result.reasons,
                         **{_EXTRA + k: v for k, v in (result.extra or {}).items()}})


def _from_frame(frame: pd.DataFrame) -> ViewResult:
    extra = {c[len(_EXTRA):]: frame[c].to_numpy() for c in frame.columns if c.startswith(_EXTRA)}
    return ViewResult(frame["raw"].to_numpy(dtype=float), frame["reason"].tolist(), extra or None)


def _write_part(path: Path, chunk: Sequence[Example], result: ViewResult) -> None:
    with atomic_path(path) as tmp:
        _frame([ex.id for ex in chunk], result).to_parquet(tmp, index=False)


def _read_part(path: Path, chunk: Sequence[Example]) -> ViewResult | None:
    """A saved chunk, if it exists and is for exactly these examples (else it is scored again)."""
    if not path.exists():
        return None
    saved = pd.read_parquet(path)
    if saved["id"].tolist() != [ex.id for ex in chunk]:
        return None
    return _from_frame(saved)


def score_all(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None,
              executor, cache_dir: Path | None, *, announce_skips: bool = True) -> ScoringResult:
    out = ScoringResult()
    pool_fp = ids_fingerprint(ex.id for ex in pool)
    target_fp = ids_fingerprint(ex.id for ex in target) if target else None
    for view in views:
        why = view.skip_reason(pool, target)
        if why:
            # A view the user named deserves a visible note; a default that does not fit the data does not.
            (info if announce_skips else debug)(f"[yellow]skipping {view.name}[/yellow]: {why}")
            out.skipped[view.name] = why
            continue
        stem = f"{view.name}-{cache_key(view, pool_fp, target_fp)}"
        path = cache_dir / f"{stem}.parquet" if cache_dir else None
        parts = cache_dir / f"{stem}.parts" if cache_dir else None
        start = time.perf_counter()
        if path is not None and path.exists():
            cached = _from_frame(pd.read_parquet(path))
            info(f"{view.name}: scores reused from the cache")
            remove_path(parts)  # left behind when a run was killed between the two writes
            out.scores.append(ViewScores(view.name, cached.raw, list(cached.reasons or []),
                                         time.perf_counter() - start, True, cached.extra or {}))
            continue
        result = score_view(view, pool, target, executor, checkpoints=parts)
        if path is not None:
            with atomic_path(path) as tmp:
                _frame([ex.id for ex in pool], result).to_parquet(tmp, index=False)
            remove_path(parts)  # the whole-view cache now holds every chunk
        seconds = time.perf_counter() - start
        debug(f"{view.name}: {len(pool)} examples in {seconds:.2f}s")
        out.scores.append(ViewScores(view.name, result.raw, list(result.reasons or []), seconds, False,
                                     result.extra or {}))
    return out
