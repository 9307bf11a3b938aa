"""The scoring driver: fit each view, score the pool in batches through an executor, cache the result.

This is the part the STYLE guide gives to the base class: batching, progress, timing, caching and
the checks that every view keeps its contract (one finite-or-NaN float per example).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from sft_select.core.cache import file_fingerprint, fingerprint, ids_fingerprint
from sft_select.core.progress import debug, info, progress_bar
from sft_select.core.record import Example
from sft_select.core.shard_cache import ShardCache
from sft_select.executors import pool as parallel
from sft_select.io.atomic import remove_path
from sft_select.scoring.batch import ScoreBatch, decode
from sft_select.scoring.with_embeddings import with_embeddings_ahead
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
    writing: "parallel.Pending | None" = None  # the views' cache files, still being written

    def wait_written(self) -> None:
        """Wait for the cache files `score_all` writes in a worker; raise what that write raised."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.result()


_EXTRA = "extra:"  # prefix of a view's extra columns in its cache file


def cache_key(view: View, pool_fp: str, target_fp: str | None) -> str:
    """Input fingerprint + view name + version + non-default parameters (+ the target it was fit on), and
    the bytes of any model file the view reads (left out when there is none, so other keys are unchanged)."""
    parts = [pool_fp, target_fp, view.name, view.version, view.non_default_params()]
    files = view.model_files()
    if files:
        parts.append([file_fingerprint(path) for path in files])
    return fingerprint(*parts)


# A view is scored in chunks, each saved as soon as it is done, so a run killed after hours of scoring
# resumes from its last finished chunk instead of from the start: a table shard of the shard cache
# (core/shard_cache.py) in cache/<view>-<key>.parts/, named by its row range and read back only for
# exactly the chunk's ids. A chunk is a whole number of batches (the batches, hence the scores, are the
# same as unchunked) and at least CHECKPOINT_MIN_EXAMPLES long, so a fast view is not slowed by writing
# many tiny files. The view's whole cache file, cache/<view>-<key>.parquet, is a table shard too.
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
    return score_views([view], pool, target, executor, batch_size=batch_size, checkpoints=[checkpoints])[0][0]


def score_views(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None, executor,
                *, batch_size: int | None = None, checkpoints: Sequence[Path | None] | None = None
                ) -> list[tuple[ViewResult, float]]:
    """Fit every view on the driver, then score them together; per view its result and seconds (fit plus
    its share of the scoring, summed over batches, on whichever worker ran them).

    Views that share a batch size and a device run in one pass over the pool (`ScoreBatch`): one trip of
    the examples to the workers, one embedding per example. `checkpoints` gives each view its own folder
    of finished chunks (or None), so a view added to an interrupted run is scored alone.
    """
    dirs = list(checkpoints) if checkpoints is not None else [None] * len(views)
    fit_seconds = []
    for view in views:
        start = time.perf_counter()
        # one unit: elapsed time only, shown once a fit (k-means, a learned model) runs past ~2 s
        with progress_bar(f"fitting {view.name}", total=1) as advance:
            view.fit(pool, target)
            advance(1)
        fit_seconds.append(time.perf_counter() - start)
    passes: dict[tuple[int, bool], list[int]] = {}
    for i, view in enumerate(views):
        passes.setdefault((batch_size or view.default_batch_size, view.cpu_fast), []).append(i)
    out: list[tuple[ViewResult, float]] = [None] * len(views)  # type: ignore[list-item]
    for (size, cpu_fast), members in passes.items():
        scored = _score_pass([views[i] for i in members], pool, executor, size, [dirs[i] for i in members],
                             gpu=not cpu_fast)
        for i, (result, seconds) in zip(members, scored):
            out[i] = (result, fit_seconds[i] + seconds)
    return out


def score_views_ahead(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None, executor,
                      checkpoints: Sequence[Path | None]) -> list[tuple[ViewResult, float]]:
    """`score_views`, with the pool's embeddings computed alongside where that applies
    (sft_select.scoring.with_embeddings)."""
    return with_embeddings_ahead(views, pool, executor, lambda group: score_views(
        [views[i] for i in group], pool, target, executor, checkpoints=[checkpoints[i] for i in group]))


def score_fitted(views: Sequence[View], examples: Sequence[Example], executor, *,
                 batch_size: int | None = None) -> list[ViewResult]:
    """Fitted views scored together over `examples` in one pass, no checkpoints (a streaming chunk)."""
    return [r for r, _ in score_fitted_timed(views, examples, executor, batch_size=batch_size)]


def score_fitted_timed(views: Sequence[View], examples: Sequence[Example], executor, *,
                       batch_size: int | None = None) -> list[tuple[ViewResult, float]]:
    """`score_fitted` with each view's scoring seconds (summed over batches, wherever they ran). CPU views
    and model views that may use a GPU go in separate passes, so the CPU ones can use worker processes;
    on the local engine a worker embeds the examples meanwhile (sft_select.scoring.with_embeddings)."""
    return with_embeddings_ahead(views, examples, executor, lambda group: _score_fitted_group(
        [views[i] for i in group], examples, executor, batch_size=batch_size))


def _score_fitted_group(views: Sequence[View], examples: Sequence[Example], executor, *,
                        batch_size: int | None = None) -> list[tuple[ViewResult, float]]:
    out: list[tuple[ViewResult, float]] = [None] * len(views)  # type: ignore[list-item]
    for gpu in (False, True):
        members = [i for i, v in enumerate(views) if v.cpu_fast is not gpu]
        if not members:
            continue
        size = batch_size or min(views[i].default_batch_size for i in members)
        scored = _score_pass([views[i] for i in members], examples, executor, size, [None] * len(members), gpu=gpu)
        for i, result in zip(members, scored):
            out[i] = result
    return out


def _score_pass(views: list[View], pool: Sequence[Example], executor, size: int, dirs: list[Path | None],
                *, gpu: bool) -> list[tuple[ViewResult, float]]:
    """Score fitted `views` over `pool` in chunks (whole numbers of batches), each chunk saved per view as
    soon as it is done; chunks every view already saved are read back, and each distinct set of views
    still missing chunks gets one `executor.map_batches` over exactly those chunks."""
    step = chunk_size(size)
    bounds = [(s, min(s + step, len(pool))) for s in range(0, len(pool), step)]
    if len(bounds) < 2:
        dirs = [None] * len(views)  # one chunk: the whole-view cache file, written next, is the checkpoint
    caches = [ShardCache(d, on_damaged=_damaged) if d is not None else None for d in dirs]
    shards = [f"{s:012d}-{e:012d}" for s, e in bounds]  # a chunk's shard: named by its row range
    done: dict[tuple[int, int], ViewResult] = {}
    for v, cache in enumerate(caches):
        for k, name in enumerate(shards) if cache is not None else ():
            saved = cache.get_table([ex.id for ex in pool[bounds[k][0]:bounds[k][1]]], name=name)
            if saved is not None:
                done[(v, k)] = _from_frame(saved.table)
    for v, view in enumerate(views):
        reused = sum(bounds[k][1] - bounds[k][0] for k in range(len(bounds)) if (v, k) in done)
        if reused:
            info(f"{view.name}: resuming, {reused} of {len(pool)} examples already scored")
    seconds = [0.0] * len(views)
    missing: dict[tuple[int, ...], list[int]] = {}
    for k in range(len(bounds)):
        todo = tuple(v for v in range(len(views)) if (v, k) not in done)
        if todo:
            missing.setdefault(todo, []).append(k)
    for todo, chunks in missing.items():
        names = [views[v].name for v in todo]
        items = [ex for k in chunks for ex in pool[bounds[k][0]:bounds[k][1]]]
        batches = executor.map_batches(ScoreBatch([views[v] for v in todo]), items, batch_size=size,
                                       desc="scoring " + ", ".join(names), gpu=gpu)
        for cols, k in zip(_cut(batches, [bounds[k][1] - bounds[k][0] for k in chunks]), chunks):
            for v in todo:
                result, spent = decode(views[v].name, cols)
                seconds[v] += spent
                done[(v, k)] = result
                if caches[v] is not None:
                    _write_scores(caches[v], shards[k], [ex.id for ex in pool[bounds[k][0]:bounds[k][1]]], result)
    return [(_concat(view, [done[(v, k)] for k in range(len(bounds))]), seconds[v]) for v, view in enumerate(views)]


def _cut(batches: Iterator[dict[str, np.ndarray]], lengths: list[int]) -> Iterator[dict[str, np.ndarray]]:
    """Re-cut a stream of column batches (any sizes, in order) into consecutive pieces of `lengths` rows,
    each yielded as soon as its last row arrives (so its checkpoint is written before the next is scored)."""
    held: list[dict[str, np.ndarray]] = []
    rows = 0
    it = iter(batches)
    for want in lengths:
        while rows < want:
            try:
                cols = next(it)
            except StopIteration:
                raise RuntimeError(f"scoring returned {rows} rows where {want} were expected") from None
            held.append(cols)
            rows += len(next(iter(cols.values())))
        whole = held[0] if len(held) == 1 else {c: np.concatenate([h[c] for h in held]) for c in held[0]}
        yield {c: v[:want] for c, v in whole.items()}
        held = [{c: v[want:] for c, v in whole.items()}] if rows > want else []
        rows -= want
    if rows or next(it, None) is not None:
        raise RuntimeError("scoring returned more rows than examples")


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


def _damaged(path: Path, exc: Exception) -> None:
    debug(f"scores cache: ignoring unreadable {path} ({exc}); scored again")


def _write_scores(cache: ShardCache, name: str, ids: list[str], result: ViewResult) -> None:
    """One view's scores of `ids` as a table shard `name` of `cache`: id, raw, reason, extra:<name>.
    An Arrow table built straight from the arrays: several times faster than through a pandas frame,
    and a run writes many chunks."""
    import pyarrow as pa

    reasons = result.reasons if result.reasons is not None else [None] * len(ids)
    columns = {"id": pa.array(ids, pa.string()), "raw": pa.array(np.asarray(result.raw, dtype=np.float64)),
               "reason": pa.array(reasons, pa.string()),
               **{_EXTRA + k: pa.array(np.asarray(v)) for k, v in (result.extra or {}).items()}}
    cache.put_table(pa.table(columns), name=name)


def _from_frame(frame: pd.DataFrame) -> ViewResult:
    extra = {c[len(_EXTRA):]: frame[c].to_numpy() for c in frame.columns if c.startswith(_EXTRA)}
    return ViewResult(frame["raw"].to_numpy(dtype=float), frame["reason"].tolist(), extra or None)


def score_all(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None,
              executor, cache_dir: Path | None, *, announce_skips: bool = True) -> ScoringResult:
    """Every view's scores: read from its cache file when one exists (a table shard of `cache_dir` for
    exactly this pool's ids), else fit and scored, all the views to score together (`score_views`), then
    each written to its own cache file."""
    out = ScoringResult()
    ids = [ex.id for ex in pool]
    pool_fp = ids_fingerprint(ids)
    target_fp = ids_fingerprint(ex.id for ex in target) if target else None
    cache = ShardCache(cache_dir, on_damaged=_damaged) if cache_dir else None
    found: dict[str, ViewScores] = {}
    todo: list[tuple[View, str, Path | None]] = []  # view, its cache file's name, its checkpoint folder
    for view in views:
        why = view.skip_reason(pool, target) if announce_skips else view.default_skip_reason(pool, target)
        if why:
            # A view the user named deserves a visible note; a default that does not fit the data does not.
            (info if announce_skips else debug)(f"[yellow]skipping {view.name}[/yellow]: {why}")
            out.skipped[view.name] = why
            continue
        stem = f"{view.name}-{cache_key(view, pool_fp, target_fp)}"
        parts = cache_dir / f"{stem}.parts" if cache_dir else None
        start = time.perf_counter()
        saved = cache.get_table(ids, name=stem) if cache is not None else None
        if saved is not None:
            cached = _from_frame(saved.table)
            info(f"{view.name}: scores reused from the cache")
            remove_path(parts)  # left behind when a run was killed between the two writes
            found[view.name] = ViewScores(view.name, cached.raw, list(cached.reasons or []),
                                          time.perf_counter() - start, True, cached.extra or {})
            continue
        todo.append((view, stem, parts))
    scored = score_views_ahead([v for v, _, _ in todo], pool, target, executor, [c for _, _, c in todo])
    writes = []
    for (view, stem, parts), (result, seconds) in zip(todo, scored):
        if cache_dir is not None:
            writes.append(partial(_write_cache, cache_dir, stem, parts, ids, result))
        debug(f"{view.name}: {len(pool)} examples in {seconds:.2f}s")
        found[view.name] = ViewScores(view.name, result.raw, list(result.reasons or []), seconds, False,
                                      result.extra or {})
    out.scores = [found[v.name] for v in views if v.name in found]  # in the order the views were given
    # In a worker while this process combines and selects, steps that leave the second core idle; a
    # process, not a thread, because the run forks more workers after.
    out.writing = parallel.background(_write_caches, writes) if writes else None
    if out.writing is None:
        _write_caches(writes)
    return out


def _write_caches(writes: Sequence[Callable[[], None]]) -> None:
    for write in writes:
        write()


def _write_cache(cache_dir: Path, name: str, parts: Path | None, ids: list[str], result: ViewResult) -> None:
    _write_scores(ShardCache(cache_dir), name, ids, result)
    if parts is not None:
        remove_path(parts)  # the whole-view cache now holds every chunk
