"""Process parallelism for the local engine: per-example work split over `engine.workers` processes.

Most per-example steps (filters, shingling, embedding, the CPU views) are Python loops that hold the GIL,
so threads would not run them in parallel; worker processes do. A run opens `workers(n)` once; a step
then calls `map_parts(fn, items)`, which cuts `items` into consecutive parts, runs `fn(part)` in the
workers and returns the results in order, or returns None when running in this process is better
(one worker, a small input, no fork on this platform, or already inside a worker). So every caller
keeps its serial code path, and a parallel run gives exactly the serial results as long as `fn` of a
part equals the serial computation over those items (the views' batch contract; callers cut at batch
boundaries).

Why fork, per step: the workers inherit `fn` and `items` from the parent's memory, so nothing but the
small results crosses a pipe. Pickling the examples instead costs ~0.1 ms each, as much as the filters
themselves; spawned workers would also re-import the user's main module. Forking a 1.5 GB process
takes ~50 ms. What does not survive a fork is kept out of the workers: they run their numeric
libraries on one thread (an OpenMP pool the parent started does not exist in the child), and callers
leave GPU work (CUDA cannot be re-initialized after a fork) in the parent.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 20_000  # below this, forking for every step costs about what the steps save
PARTS_PER_WORKER = 2  # a slow part does not leave the other workers idle for long

_state: dict = {"workers": 1, "min_items": MIN_ITEMS, "in_worker": False, "job": None}


def resolve_workers(setting: int | str) -> int:
    """`engine.workers`: a count, or "auto" = the CPUs this process may use."""
    if setting == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    return max(1, int(setting))


def _init_worker() -> None:
    import signal

    from sft_select.progress import configure

    # Ctrl-C reaches the whole process group: the parent alone handles it (a clean, resumable stop)
    # and ends the workers; the SIGTERM handler inherited from the parent would turn that end into a
    # traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _state["in_worker"] = True
    configure(quiet=True)  # the parent reports progress; workers print nothing
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl comes with scikit-learn; without it BLAS keeps its default
        pass


@contextmanager
def workers(n: int, *, min_items: int = MIN_ITEMS) -> Iterator[None]:
    """Allow up to `n` worker processes for the steps run inside this block."""
    saved = dict(_state)
    _state.update(workers=max(1, n), min_items=min_items)
    try:
        yield
    finally:
        _state.update(saved)


def active() -> int:
    """How many processes a parallel step would use now (1: run serially)."""
    import multiprocessing

    if _state["in_worker"] or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return _state["workers"]


def split(n: int, parts: int, multiple: int = 1) -> list[tuple[int, int]]:
    """`parts` consecutive (start, stop) ranges covering range(n), each a whole number of `multiple`
    items (the last takes the rest)."""
    units = -(-n // multiple)
    parts = max(1, min(parts, units))
    bounds = [min(n, (units * k // parts) * multiple) for k in range(parts + 1)]
    bounds[-1] = n
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _run_part(bounds: tuple[int, int]):
    fn, items = _state["job"]
    return fn(items[bounds[0]:bounds[1]])


def map_parts(fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1,
              min_items: int | None = None) -> list[R] | None:
    """[fn(part) for each consecutive part of `items`] computed in forked workers, or None to run serially.

    Parts are whole multiples of `multiple` items (a caller's batch size); an input shorter than
    `min_items` (default: the run's `engine.parallel_min`) runs serially. An exception in a worker is
    raised here as it was raised there.
    """
    import multiprocessing

    limit = _state["min_items"] if min_items is None else min_items
    if active() < 2 or len(items) < max(limit, 2):
        return None
    ranges = split(len(items), active() * PARTS_PER_WORKER, multiple)
    if len(ranges) < 2:
        return None
    _state["job"] = (fn, items)  # inherited by the forked workers, never pickled
    try:
        with multiprocessing.get_context("fork").Pool(min(active(), len(ranges)), initializer=_init_worker) as pool:
            return pool.map(_run_part, ranges, chunksize=1)
    finally:
        _state["job"] = None
