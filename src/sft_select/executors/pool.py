"""Process parallelism for the local engine: per-example work split over `engine.workers` processes.

Most per-example steps (filters, shingling, embedding, the CPU views) are Python loops that hold the GIL,
so threads would not run them in parallel; worker processes do. A `WorkerPool(workers, min_items=...)`
says how many processes a step may use; `LocalExecutor(workers=...)` owns one and opens it for a run
(`with executor:`), which makes it the pool the steps of that run find (`current()`, and the module-level
`map_parts`, `background`, ... that delegate to it). A step calls `pool.map_parts(fn, items)`, which cuts
`items` into one consecutive part per worker, runs `fn(part)` in the workers and returns the results in
order, or returns None when running in this process is better (one worker, a small input, no fork on
this platform, or already inside a worker). So every caller keeps its serial code path, and a parallel
run gives exactly the serial results as long as `fn` of a part equals the serial computation over those
items (the views' batch contract; callers cut at batch boundaries).

Why fork, per step: the workers inherit `fn` and `items` from the parent's memory, so nothing but the
small results crosses a pipe. Pickling the examples instead costs about as much as the filters
themselves; spawned workers would also re-import the user's main module. A fork costs the page tables
plus a copy of each memory page a worker writes to, which is mostly the pages of the objects in its
part (reading a Python object updates its reference count). What does not survive a fork is kept out
of the workers: they run their numeric libraries on one thread (an OpenMP pool the parent started does
not exist in the child), and callers leave GPU work (CUDA cannot be re-initialized after a fork) in the
parent. A worker that dies (out of memory) raises WorkerDied in the parent instead of hanging it.

Why not concurrent.futures or a multiprocessing.Pool (fork context): their workers are started once and
serve many tasks, so a task's function and its items reach them pickled, which is the cost the per-step
fork avoids. A pool made per step would keep the inheritance, but the guarantees below would then
rest on its initializer hook, and a dead worker marks such a pool broken as a whole (BrokenProcessPool)
rather than naming the part that died. What is used of multiprocessing is its fork-context Process and
Pipe; the rest is small and tested (tests/reliability, bench/crash_loop.py). (Not measured against this
module: kept because the reasons above hold, not because an alternative lost a race.)

Workers die with the parent: a parent killed by SIGKILL runs no cleanup, so each worker asks the kernel
for a SIGKILL when its parent dies (Linux: PR_SET_PDEATHSIG; elsewhere a thread polls the parent's pid).
A worker also closes what it inherited and does not own: the receiving ends of every worker's result
pipe (else its own `send` blocks forever once the parent is gone, the pipe having a reader: itself) and
whatever other modules registered with `on_worker_start` (the run directory's lock file: flock locks are
shared across fork, so a surviving worker kept the run locked and the resume was refused).
"""
from __future__ import annotations

import gc
import os
import sys
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TypeVar

from sft_select.core.errors import SftSelectError

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 20_000  # below this, forking for every step costs about what the steps save

# Facts about this process, not settings: whether it is a worker, and the job a fork is about to inherit.
_state: dict = {"in_worker": False, "job": None}
# The pools opened in this process, innermost last (`WorkerPool.opened`): the steps use the last one.
_open: list["WorkerPool"] = []
# What every new worker calls first, after closing the result pipes (`on_worker_start`).
_worker_start: list[Callable[[], None]] = []

# The receiving ends of the result pipes this process holds open; a worker forked later inherits them
# and closes them first thing (`_close_inherited`).
_receivers: "weakref.WeakSet" = weakref.WeakSet()


def on_worker_start(fn: Callable[[], None]) -> Callable[[], None]:
    """Have every worker forked from now on call `fn` first thing: to close what it inherited and must not
    keep (sft_select.rundir.folder registers its lock files). Returns `fn`."""
    if fn not in _worker_start:
        _worker_start.append(fn)
    return fn


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

    from sft_select.core.progress import configure

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


class WorkerPool:
    """Up to `workers` forked worker processes for a step; inputs shorter than `min_items` run here.

    It holds no processes between steps: each step forks its workers and ends them (see the module's
    docstring for why). `opened()` makes it the pool the steps find while a block runs."""

    def __init__(self, workers: int = 1, *, min_items: int = MIN_ITEMS):
        self.workers = max(1, int(workers))
        self.min_items = min_items

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers}, min_items={self.min_items})"

    @contextmanager
    def opened(self) -> Iterator["WorkerPool"]:
        """This pool is the one `current()` returns (the steps' pool) until the block ends; blocks nest,
        the innermost wins (a step that leaves the other cores to a background worker opens a
        one-worker pool)."""
        _open.append(self)
        try:
            yield self
        finally:
            _open.remove(self)
            if not _open:  # the outermost block (a run's), not one nested in it for a step
                gc.unfreeze()  # what `_fork` froze is collectable again: a library caller's cycles are not kept

    def active(self) -> int:
        """How many processes a parallel step would use now (1: run serially)."""
        import multiprocessing

        if _state["in_worker"] or "fork" not in multiprocessing.get_all_start_methods():
            return 1
        return self.workers

    def map_parts(self, fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1,
                  min_items: int | None = None) -> list[R] | None:
        """[fn(part) for each consecutive part of `items`] computed in forked workers, or None to run serially.

        One part per worker, each a whole multiple of `multiple` items (a caller's batch size); an input
        shorter than `min_items` (default: the pool's) runs serially. An exception in a worker is raised
        here as it was raised there; a worker that dies raises WorkerDied, never hangs.
        """
        started = self.start_parts(fn, items, multiple=multiple, min_items=min_items)
        return started.results() if started is not None else None

    def start_parts(self, fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1,
                    min_items: int | None = None) -> "Parts | None":
        """`map_parts` without the wait: the workers are started and this process goes on until it asks
        for `.results()` (e.g. writing the previous window's checkpoints); None where map_parts would not
        fork."""
        limit = self.min_items if min_items is None else min_items
        workers = self.active()
        if workers < 2 or len(items) < max(limit, 2):
            return None
        ranges = split(len(items), workers, multiple)
        if len(ranges) < 2:
            return None
        _state["job"] = (fn, items)  # inherited by the forked workers, never pickled
        procs = []
        try:
            for bounds in ranges:
                procs.append(_fork(bounds))
        except BaseException:
            Parts(procs).cancel()
            raise
        finally:
            _state["job"] = None
        return Parts(procs)

    def background(self, fn: Callable[[Sequence[T]], R], items: Sequence[T]) -> "Pending | None":
        """`fn(items)` in one forked worker while this process goes on (e.g. filtering the examples read
        so far while the rest of the input is parsed), or None where `map_parts` would not fork (one
        worker, no fork, already inside a worker)."""
        if self.active() < 2:
            return None
        _state["job"] = (fn, items)
        try:
            return Pending(*_fork((0, len(items))))
        finally:
            _state["job"] = None

    def run_parts(self, fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1) -> list[R]:
        """`fn` over consecutive parts of `items`: in the workers when `map_parts` finds it worth it,
        else `[fn(items)]` here. For `fn`s that do not themselves fork."""
        parts = self.map_parts(fn, items, multiple=multiple)
        return parts if parts is not None else [fn(items)]


_SERIAL = WorkerPool(1)  # what the steps find when no pool is open: everything runs in this process


def current(default: WorkerPool | None = None) -> WorkerPool:
    """The pool the steps running now may use: the innermost one opened (a run's executor's), else
    `default`, else one worker (this process)."""
    if _open:
        return _open[-1]
    return default if default is not None else _SERIAL


# -- the steps' shortcuts to `current()` -------------------------------------------------------------


def workers(n: int, *, min_items: int = MIN_ITEMS):
    """Allow up to `n` worker processes for the steps run inside this block: `WorkerPool(n).opened()`."""
    return WorkerPool(n, min_items=min_items).opened()


def min_items() -> int:
    """The run's `engine.parallel_min`: inputs shorter than this run in one process."""
    return current().min_items


def active() -> int:
    """How many processes a parallel step would use now (1: run serially)."""
    return current().active()


def map_parts(fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1,
              min_items: int | None = None) -> list[R] | None:
    """`current().map_parts(...)`."""
    return current().map_parts(fn, items, multiple=multiple, min_items=min_items)


def start_parts(fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1,
                min_items: int | None = None) -> "Parts | None":
    """`current().start_parts(...)`."""
    return current().start_parts(fn, items, multiple=multiple, min_items=min_items)


def background(fn: Callable[[Sequence[T]], R], items: Sequence[T]) -> "Pending | None":
    """`current().background(...)`."""
    return current().background(fn, items)


def run_parts(fn: Callable[[Sequence[T]], R], items: Sequence[T], *, multiple: int = 1) -> list[R]:
    """`current().run_parts(...)`."""
    return current().run_parts(fn, items, multiple=multiple)


def split(n: int, parts: int, multiple: int = 1) -> list[tuple[int, int]]:
    """`parts` consecutive (start, stop) ranges covering range(n), each a whole number of `multiple`
    items (the last takes the rest)."""
    units = -(-n // multiple)
    parts = max(1, min(parts, units))
    bounds = [min(n, (units * k // parts) * multiple) for k in range(parts + 1)]
    bounds[-1] = n
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this worker when `parent` dies; exit now if it already has."""
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            set_ok = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            set_ok = False
        if not set_ok:  # no prctl (a sandbox, another libc): poll instead
            _watch_parent(parent)
    else:
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died between the fork and the prctl: no signal will come
        os._exit(1)


def _watch_parent(parent: int) -> None:
    import threading

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="sft-select-parent-watch").start()


def _close_inherited() -> None:
    """In a fresh worker: close the result pipes' receiving ends (its own and its siblings'), all the
    parent's, then run what `on_worker_start` registered (the run directory's lock files)."""
    for recv in list(_receivers):
        try:
            recv.close()
        except OSError:
            pass
    _receivers.clear()
    for fn in _worker_start:
        fn()


def _child(bounds: tuple[int, int], send, parent: int) -> None:
    """A forked worker: compute its part, send (ok, result or exception) to the parent."""
    _die_with_parent(parent)
    _close_inherited()
    _init_worker()
    fn, items = _state["job"]
    try:
        message = (True, fn(items[bounds[0]:bounds[1]]))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        message = (False, exc)
    try:
        try:
            send.send(message)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - an exception that does not pickle still says what it was
            send.send((False, RuntimeError(f"worker failed: {message[1]!r} ({exc})")))
    except OSError:  # the parent is gone (broken pipe): nobody to report to
        os._exit(1)


class WorkerDied(SftSelectError):
    """A worker process ended without a result (killed: out of memory, a signal); the CLI prints it
    as a message, not a traceback."""


class Parts:
    """Forked workers computing `map_parts`' parts while this process goes on (see `start_parts`)."""

    def __init__(self, procs: list):
        self._procs = procs

    def results(self) -> list:
        """Each part's result, in order (waiting for them); the workers are gone afterwards."""
        try:
            return [_receive(proc, recv) for proc, recv in self._procs]
        finally:
            self.cancel()

    def cancel(self) -> None:
        for proc, recv in self._procs:
            _end(proc, recv)
        self._procs = []


def _fork(bounds: tuple[int, int]):
    """One forked worker computing `_state["job"]` over `items[bounds]`: (process, receiving end)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(bounds, send, os.getpid()), daemon=True)
    _receivers.add(recv)  # registered before the fork: the worker closes its own copy too
    # Every object alive now moves to the collector's permanent generation (gc.freeze), so neither the
    # worker's collections nor this process's later full ones walk them: a full collection writes into
    # each object's header, which copies every page of the inherited heap, in a worker and in the parent
    # alike. Reference counting still frees these objects; only cycles
    # among them wait for the outermost `WorkerPool.opened` block to end, which unfreezes them.
    gc.freeze()
    try:
        proc.start()
    except BaseException:
        _receivers.discard(recv)
        recv.close()
        send.close()
        raise
    send.close()  # the child's copy alone stays open: its death closes the pipe
    return proc, recv


def _receive(proc, recv):
    """A worker's result (waiting for it): its exception is raised here, a dead worker is WorkerDied."""
    try:
        ok, value = recv.recv()
    except EOFError:
        proc.join()
        raise WorkerDied(f"a worker process ended without a result (exit code {proc.exitcode}; "
                         "out of memory?): run with --workers 1 or a smaller engine.chunk_size") from None
    if not ok:
        raise value
    return value


def _end(proc, recv) -> None:
    if proc.is_alive():
        proc.terminate()
    proc.join()
    _receivers.discard(recv)
    recv.close()


class Pending:
    """One forked worker computing `fn(items)` while this process goes on (see `background`)."""

    def __init__(self, proc, recv):
        self._proc, self._recv = proc, recv

    def done(self) -> bool:
        return self._recv.poll() or not self._proc.is_alive()

    def result(self):
        try:
            return _receive(self._proc, self._recv)
        finally:
            _end(self._proc, self._recv)

    def cancel(self) -> None:
        _end(self._proc, self._recv)


def shared_array(shape: tuple[int, ...], dtype) -> "np.ndarray":
    """A zeroed array in anonymous shared memory: forked workers write their rows into it and the
    parent reads them, with no pickling through a pipe (the embeddings of a large pool are hundreds of MB
    of pickles)."""
    import mmap

    import numpy as np

    count = int(np.prod(shape))
    buf = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))  # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
