"""The Ray executor: the same batch functions as the local executor, run as Ray Data `map_batches`.

The batch function (scoring's `ScoreBatch`, every fitted view of a pass) runs as Ray tasks on the
pooled worker processes the global steps use, or, for GPU work, on one actor pool. Either way each
worker receives it once, as picklable parameters and fitted state, and loads any model lazily on its
first batch, once per process. The examples go to the object store once per call, one object per batch
of rows; rows carry only their position, and a worker fetches only the blocks of the rows it scores.
Results come back in input order, as they finish, so the score table is identical to the local
engine's and the caller can checkpoint while the pool is being scored.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from sft_select.core.errors import ConfigError, MissingDependency
from sft_select.core.progress import configure, debug, info
from sft_select.executors.pool import WorkerPool


class _Examples:
    """The examples of one `map_batches` call, one object-store block per batch of rows, fetched lazily."""

    def __init__(self, blocks: list, block_rows: int):
        self.refs = blocks[0]  # wrapped in a list so that Ray passes the references, not their values
        self.block_rows = block_rows
        self._held: tuple[int, list] = (-1, [])

    def at(self, positions: np.ndarray) -> list:
        import ray

        out = []
        for p in positions.tolist():
            k = p // self.block_rows
            if self._held[0] != k:  # batches follow blocks, so one block held at a time is enough
                self._held = (k, ray.get(self.refs[k]))
            out.append(self._held[1][p % self.block_rows])
        return out


class _ApplyBatch:
    """Actor-side callable: holds the batch function and the examples for its lifetime."""

    def __init__(self, fn: Callable, blocks: list, block_rows: int):
        configure(quiet=True)  # the driver reports progress: a worker's bars would print past --quiet
        self.fn = fn
        self.examples = _Examples(blocks, block_rows)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        positions = batch["pos"].astype(np.int64)
        return {"pos": positions, **self.fn(self.examples.at(positions))}


# The batch function of the current call, unpickled once per worker process: tasks of one call that
# land on the same pooled worker reuse it (and the models it loaded), as an actor would.
_HELD_FN: dict[str, Callable] = {}


def _apply_task(batch: dict[str, np.ndarray], token: str, fn_box: list, blocks: list,
                block_rows: int) -> dict[str, np.ndarray]:
    import ray

    if token not in _HELD_FN:
        configure(quiet=True)  # as in _ApplyBatch
        _HELD_FN.clear()  # one call's function at a time: an earlier call's fitted views are not kept
        _HELD_FN[token] = ray.get(fn_box[0])
    positions = batch["pos"].astype(np.int64)
    return {"pos": positions, **_HELD_FN[token](_Examples(blocks, block_rows).at(positions))}


def _in_order(batches, n: int) -> Iterator[dict[str, np.ndarray]]:
    """Output batches (each with a `pos` column, arriving in any order) as runs of consecutive positions
    0, 1, ..., n-1, each yielded as soon as every earlier row has been yielded."""
    pending: dict[int, tuple[int, dict[str, np.ndarray]]] = {}  # first position -> (rows, columns)
    nxt = 0
    for cols in batches:
        pos = np.asarray(cols["pos"], dtype=np.int64)
        order = np.argsort(pos, kind="stable")
        pos = pos[order]
        cols = {c: np.asarray(v)[order] for c, v in cols.items() if c != "pos"}
        cuts = [0, *(np.flatnonzero(np.diff(pos) != 1) + 1).tolist(), len(pos)]
        for s, e in zip(cuts[:-1], cuts[1:]):
            if e > s:
                pending[int(pos[s])] = (e - s, {c: v[s:e] for c, v in cols.items()})
        while nxt in pending:
            rows, run = pending.pop(nxt)
            nxt += rows
            yield run
    if nxt != n or pending:
        raise RuntimeError(f"Ray returned rows up to position {nxt} of {n}")


def _quiet_ray_data() -> None:
    """Ray Data logs every operator's progress at INFO; our own progress lines are enough."""
    import logging

    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)


# What the workers of every Ray step import. Importing it as soon as Ray is up, while the driver still
# reads and filters, takes most of the first Ray Data step's start off the critical path (the first
# `first_of_equal` is several times faster after warming: docs/benchmarks.md).
_WARM_MODULES = ("pyarrow", "ray.data", "sft_select.executors.kernels")


def _import_modules(names: tuple[str, ...]) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


class RayExecutor:
    name = "ray"
    shares_memory = False
    remote_workers = True

    def __init__(self, address: str | None = None, num_cpus: int | None = None, concurrency: int | None = None,
                 actors: bool | None = None):
        """`actors`: map batches on an actor pool (True) or on pooled task workers (False); None picks
        actors only for work that wants a GPU on a cluster that has one (see `map_batches`)."""
        try:
            import ray
        except ImportError:
            raise MissingDependency("ray[data]", "--engine ray", extra="ray") from None
        if not ray.is_initialized():
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
            except ConnectionError as exc:
                raise ConfigError(f"engine.ray_address: cannot join the Ray cluster at {address}: {exc}") from None
            resources = ray.cluster_resources()
            info(f"Ray: {resources.get('CPU', 0):.0f} CPUs"
                 + (f", {resources.get('GPU', 0):.0f} GPUs" if resources.get("GPU") else ""))
        self.actors = actors
        self.concurrency = concurrency or max(1, int(ray.cluster_resources().get("CPU", 1)))
        _quiet_ray_data()
        # One task per CPU at once, so each starts its own pooled worker; later steps' tasks reuse them.
        warm = ray.remote(num_cpus=1)(_import_modules)
        self._warming = [warm.remote(_WARM_MODULES) for _ in range(self.concurrency)]

    @property
    def pool(self) -> WorkerPool:
        """The processes a step on the driver may use: this one (the cluster's workers are Ray's)."""
        return WorkerPool(1)

    def __enter__(self) -> "RayExecutor":
        """A run's block, as for the local engine: the steps on the driver use this process alone (no pool
        is opened; the cluster's workers are Ray's)."""
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map_batches(self, fn: Callable, items: Sequence, *, batch_size: int, desc: str = "",
                    gpu: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """The local executor's contract on Ray Data: `fn` returns equal-length numpy columns per batch;
        they are yielded in input order, as they finish.

        `gpu` (the cluster has GPUs): an actor pool, one GPU per actor, so a model stays loaded in exactly
        that many processes for the whole call. Otherwise Ray tasks on its pooled worker processes, the
        ones the global steps use: no process to start or stop, where an actor pool costs a process start
        per actor and, when it ends, makes the next Ray Data step start new task workers.
        `fn` is unpickled once per worker process either way.
        """
        import pyarrow as pa
        import ray
        import ray.data

        if not items:
            return
        size = max(1, batch_size)
        # One object per batch of examples: a worker fetches (and unpickles) only the examples it scores.
        refs = [ray.put(list(items[s:s + size])) for s in range(0, len(items), size)]
        # from_arrow puts the positions in the object store directly: no read task competes with the
        # actors for CPUs (a `range` read task deadlocks when the actor pool holds every CPU). One block
        # per batch lets the workers take batches as they free up.
        ds = ray.data.from_arrow([pa.table({"pos": np.arange(s, min(s + size, len(items)), dtype=np.int64)})
                                  for s in range(0, len(items), size)])
        actors = self.actors if self.actors is not None else bool(gpu and ray.cluster_resources().get("GPU"))
        if actors:
            gpus = 1 if gpu and ray.cluster_resources().get("GPU") else 0
            out = ds.map_batches(_ApplyBatch, fn_constructor_args=(fn, [refs], size), batch_size=size,
                                 compute=ray.data.ActorPoolStrategy(size=min(self.concurrency, len(refs))),
                                 num_gpus=gpus, batch_format="numpy")
        else:
            fn_ref = ray.put(fn)
            out = ds.map_batches(_apply_task, fn_args=(fn_ref.hex(), [fn_ref], [refs], size), batch_size=size,
                                 batch_format="numpy")
        if desc:
            debug(f"{desc}: {len(items)} examples on Ray " + ("actors" if actors else "tasks"))
        yield from _in_order(out.iter_batches(batch_format="numpy", batch_size=None), len(items))

    # -- global steps: the local executor's contract, run distributed (executors/ray_global.py) ---------

    @property
    def shards(self) -> int:
        """Hash-shuffle partitions: two per CPU, so a slow shard does not leave a CPU idle."""
        return 2 * self.concurrency

    def first_of_equal(self, keys: np.ndarray) -> np.ndarray:
        from sft_select.executors import ray_global

        return ray_global.first_of_equal(keys, self.shards)

    def band_pairs(self, band_keys: np.ndarray) -> np.ndarray:
        from sft_select.executors import ray_global

        return ray_global.band_pairs(band_keys, self.shards)

    def top_k(self, scores: np.ndarray, k: int | None = None, *, ids: np.ndarray | None = None,
              threshold: float | None = None) -> np.ndarray:
        from sft_select.executors import ray_global

        return ray_global.top_k(scores, k, ids, threshold, self.shards)

    def apply_by_group(self, fn: Callable, groups: np.ndarray, columns: dict[str, np.ndarray],
                       shared: Any = None) -> dict[str, np.ndarray]:
        from sft_select.executors import ray_global

        return ray_global.apply_by_group(fn, groups, columns, shared, self.shards)
