"""The local executor: runs a batch function over examples in this process or in forked workers (its
`WorkerPool`), with a progress bar, and the global steps (dedup keys, LSH band buckets, ranking,
per-group functions) as numpy over all rows at once.

Executors know nothing about views; a view knows nothing about executors. The Ray executor maps the
same batch function with `map_batches` on a cluster, and runs the same global-step kernels
(`executors.kernels`) per hash-shuffled group; both give the same answers, bit for bit.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from sft_select.core.progress import progress_bar
from sft_select.executors import kernels
from sft_select.executors import pool as parallel
from sft_select.executors.pool import MIN_ITEMS, WorkerPool

T = TypeVar("T")

GroupFn = Callable[[dict[str, np.ndarray], Any], dict[str, np.ndarray]]


# A parallel map_batches forks once per window of this many batches per worker: large enough that the
# fork and the copy-on-write of a part's pages are small next to scoring it, small enough that results,
# hence scoring checkpoints, arrive while the pool is scored.
WINDOW_BATCHES = 16
# A window that ends in less than this grows so that the next takes about this long: a fast pass (the
# embedding views) then forks fewer times, and a slow one still yields results, hence checkpoints, this
# often.
WINDOW_SECONDS = 10.0


def _next_window(window: int, done: int, seconds: float, size: int) -> int:
    """The next window's length (a whole number of batches, never shorter) after `done` items took `seconds`."""
    if seconds <= 0:
        return window
    return max(window, -(-int(done * WINDOW_SECONDS / seconds) // size) * size)


class _Window(Sequence):
    """A window's items which, sliced into a worker's part, remember where the part starts."""

    def __init__(self, items: Sequence, start: int = 0):
        self.items, self.start = items, start

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            lo, hi, _ = i.indices(len(self.items))
            return _Window(self.items[lo:hi], self.start + lo)
        return self.items[i]


def _run_batches(fn: Callable[[Sequence[T]], dict], batch_size: int, done: np.ndarray, first: int,
                 part: _Window) -> list[dict]:
    """One worker's share of a window of `map_batches`: its batches, in order. Each batch's length goes
    into its slot of `done` (shared memory, one slot per batch of the call, the window's first at `first`)
    as it ends: the parent's progress bar reads them, so a window that runs for minutes still moves it."""
    out = []
    for start in range(0, len(part), batch_size):
        batch = part.items[start:start + batch_size]
        out.append(fn(batch))
        done[first + (part.start + start) // batch_size] = len(batch)
    return out


class LocalExecutor:
    """This machine's engine. `workers`: how many forked processes a step may use (`engine.workers`,
    resolved: see `pool.resolve_workers`); `min_items`: inputs shorter than this run in this process
    (`engine.parallel_min`). With `workers=None` (the default) the executor runs on whatever pool is
    open around it (a run's, or one process when none is).

    `with executor:` opens its pool for a block (a run): the steps in it that take no executor (the
    filters, shingling, the views' fits) find the same pool (`pool.current()`). A block opened inside
    that one (a step that leaves the other cores to a background worker) narrows both."""

    name = "local"
    shares_memory = True
    remote_workers = False

    def __init__(self, workers: int | None = None, *, min_items: int | None = None):
        self.workers = workers
        self.min_items = min_items
        self._pool = None if workers is None else WorkerPool(workers, min_items=MIN_ITEMS if min_items is None
                                                             else min_items)
        self._opened: list = []

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers}, min_items={self.min_items})"

    @property
    def pool(self) -> WorkerPool:
        """The processes this executor's steps may use now: the innermost pool opened (its own, while
        `with executor:` runs, or one a step opened inside it), else its own, else one process."""
        return parallel.current(self._pool)

    def __enter__(self) -> "LocalExecutor":
        if self._pool is not None:
            block = self._pool.opened()
            block.__enter__()
            self._opened.append(block)
        else:
            self._opened.append(None)
        return self

    def __exit__(self, *exc) -> None:
        block = self._opened.pop()
        if block is not None:
            block.__exit__(*exc)

    def serial(self):
        """A block in which this executor and the steps inside it use this process alone (a step that
        keeps a background worker on the other cores)."""
        return WorkerPool(1).opened()

    def map_batches(self, fn: Callable[[Sequence[T]], dict[str, np.ndarray]], items: Sequence[T], *,
                    batch_size: int, desc: str = "", gpu: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """`fn` applied to consecutive batches of `items`; it returns equal-length numpy columns, yielded
        in input order as they finish (so the caller can checkpoint as it goes).

        With several worker processes (`self.pool`) the batches run there, a window of
        WINDOW_BATCHES batches per worker at a time (growing while windows end within WINDOW_SECONDS),
        cut at batch boundaries (so the batches, hence the results, are the same); each window's
        results are yielded when it ends. `gpu` work stays in this
        process: CUDA does not survive a fork, and torch already spreads its CPU work over the cores.
        """
        size = max(1, batch_size)
        pool = self.pool
        workers = 1 if gpu else pool.active()
        window = len(items)
        if workers > 1:  # at least the run's parallel minimum, or map_parts would run the window here
            window = -(-max(pool.min_items, workers * WINDOW_BATCHES * size) // size) * size
        # Batches done in the workers, one slot each (written by one worker only, so no lock is needed).
        done = parallel.shared_array((-(-len(items) // size),), np.int64) if workers > 1 else None
        running = None  # (window, its started workers, when they started)
        pos = 0
        with progress_bar(desc, total=len(items), poll=None if done is None else lambda: int(done.sum())) as advance:
            try:
                while True:
                    finished = None
                    if running is not None:
                        finished = (running[0], running[1].results())
                        window = _next_window(window, len(finished[0]), time.perf_counter() - running[2], size)
                        running = None
                    part = items[pos:pos + window] if pos < len(items) else None
                    pos += window
                    if part is not None and workers > 1:
                        job = partial(_run_batches, fn, size, done, (pos - window) // size)
                        started = pool.start_parts(job, _Window(part), multiple=size)
                        running = (part, started, time.perf_counter()) if started is not None else None
                    if finished is not None:
                        # The next window's workers run while the caller takes these results (the
                        # scoring pass writes its checkpoints, once serial between windows).
                        yield from (r for results in finished[1] for r in results)
                    if part is None:
                        break
                    if running is None:  # one worker, or too small to fork for
                        for b in range(0, len(part), size):
                            batch = part[b:b + size]
                            yield fn(batch)
                            advance(len(batch))
            finally:
                if running is not None:  # the caller stopped early (an error, Ctrl-C): end the workers
                    running[1].cancel()

    # -- global steps: one contract, two engines (see executors/ray_global.py) --------------------------

    def first_of_equal(self, keys: np.ndarray) -> np.ndarray:
        """For every row of `keys` (uint64 (n,) or (n, w)), the smallest row index with the same key."""
        keys = kernels.key_columns(keys)
        found = kernels.first_of_equal(keys, np.arange(len(keys), dtype=np.int64))
        out = np.empty(len(keys), dtype=np.int64)
        out[found["pos"]] = found["first"]
        return out

    def band_pairs(self, band_keys: np.ndarray) -> np.ndarray:
        """Distinct candidate pairs (a < b, sorted) among rows sharing a bucket in any band of `band_keys`
        (uint64 (n, bands)); a bucket larger than `kernels.ALL_PAIRS_MAX` gives a star and a chain."""
        band_keys = kernels.key_columns(band_keys)
        pairs = [kernels.bucket_pairs(band_keys[:, b]) for b in range(band_keys.shape[1])]
        return kernels.distinct_pairs(np.sort(np.concatenate([np.zeros((0, 2), np.int64), *pairs]), axis=1))

    def top_k(self, scores: np.ndarray, k: int | None = None, *, ids: np.ndarray | None = None,
              threshold: float | None = None) -> np.ndarray:
        """Indices of the rows with a score (not NaN; >= `threshold` if given) ordered by (-score, id,
        index), the first `k` of them (all when k is None)."""
        scores = np.asarray(scores, dtype=np.float64)
        keep = ~np.isnan(scores) if threshold is None else (~np.isnan(scores)) & (scores >= threshold)
        idx = np.flatnonzero(keep)
        order = kernels.rank_order(scores[idx], None if ids is None else np.asarray(ids)[idx], idx)
        return idx[order][:k].astype(np.int64)

    def apply_by_group(self, fn: GroupFn, groups: np.ndarray, columns: Mapping[str, np.ndarray],
                       shared: Any = None) -> dict[str, np.ndarray]:
        """`fn(columns of one group, shared)` for each group of equal `groups` values, rows of a group in
        ascending row order; `fn` returns arrays as long as its group. The outputs, in row order."""
        groups = np.asarray(groups)
        order = np.lexsort((np.arange(len(groups)), groups))
        starts = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1]]) if len(groups) else []
        parts: dict[str, list] = {}
        for s, e in zip(starts, [*starts[1:], len(groups)]):
            rows = order[s:e]
            for name, values in fn({c: np.asarray(v)[rows] for c, v in columns.items()}, shared).items():
                parts.setdefault(name, []).append((rows, np.asarray(values)))
        out = {}
        for name, chunks in parts.items():
            col = np.empty(len(groups), dtype=chunks[0][1].dtype)
            for rows, values in chunks:
                col[rows] = values
            out[name] = col
        return out
