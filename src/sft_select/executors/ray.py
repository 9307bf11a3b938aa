"""The Ray executor: the same batch functions as the local executor, run as Ray Data `map_batches`.

The batch function (a fitted view's `score_batch`) goes to an actor pool: each actor receives the view
once, as its picklable parameters and fitted state, and loads any model lazily on its first batch,
once per actor. Examples travel through the object store once; rows carry only their position.
Results are put back in input order, so the score table is identical to the local engine's.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from sft_select.errors import ConfigError, MissingDependency
from sft_select.progress import info


class _ApplyBatch:
    """Actor-side callable: holds the batch function and the examples reference for its lifetime."""

    def __init__(self, fn: Callable, items_ref: Any):
        import ray

        self.fn = fn
        self.items = ray.get(items_ref)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        positions = batch["data"]
        result = self.fn([self.items[int(p)] for p in positions])
        reasons = result.reasons if result.reasons is not None else [None] * len(result.raw)
        extra = {f"extra:{k}": np.asarray(v) for k, v in (result.extra or {}).items()}
        return {"pos": positions, "raw": np.asarray(result.raw, dtype=np.float64),
                "reason": np.array(["" if r is None else r for r in reasons], dtype=object),
                "has_reason": np.array([r is not None for r in reasons]), **extra}


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


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, concurrency: int | None = None):
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
            info(f"Ray: {ray.cluster_resources().get('CPU', 0):.0f} CPUs"
                 + (f", {ray.cluster_resources().get('GPU', 0):.0f} GPUs" if ray.cluster_resources().get("GPU") else ""))
        self.concurrency = concurrency or max(1, int(ray.cluster_resources().get("CPU", 1)))
        _quiet_ray_data()

    def map_batches(self, fn: Callable, items: Sequence, *, batch_size: int, desc: str = "") -> list:
        import ray
        import ray.data

        from sft_select.views.base import ViewResult

        if not items:
            return []
        items_ref = ray.put(list(items))
        # from_numpy puts the positions in the object store directly: no read task competes with the
        # actors for CPUs (a `range` read task deadlocks when the actor pool holds every CPU).
        ds = ray.data.from_numpy(np.arange(len(items), dtype=np.int64))
        view = getattr(fn, "__self__", None)
        gpus = 1 if ray.cluster_resources().get("GPU") and getattr(view, "cpu_fast", True) is False else 0
        out = ds.map_batches(_ApplyBatch, fn_constructor_args=(fn, items_ref), batch_size=batch_size,
                             compute=ray.data.ActorPoolStrategy(size=self.concurrency), num_gpus=gpus,
                             batch_format="numpy")
        rows = out.to_pandas().sort_values("pos", kind="mergesort")
        reasons = [r if h else None for r, h in zip(rows["reason"], rows["has_reason"])]
        extra = {c[len("extra:"):]: rows[c].to_numpy() for c in rows.columns if c.startswith("extra:")}
        return [ViewResult(rows["raw"].to_numpy(dtype=np.float64), reasons, extra or None)]

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
