"""Executors run batch functions; views never import them."""
from __future__ import annotations

from sft_select.executors.base import Executor
from sft_select.executors.local import LocalExecutor
from sft_select.executors.pool import WorkerPool, resolve_workers

__all__ = ["Executor", "LocalExecutor", "WorkerPool", "get_executor", "resolve_workers"]


def get_executor(engine_cfg) -> Executor:
    """The executor for the `engine` config section: local (this process and `engine.workers` forked
    workers) or ray (Ray Data tasks or actors). Use it as a block around the run (`with executor:`), so
    that the local engine's steps find its worker pool."""
    if engine_cfg.name == "ray":
        from sft_select.executors.ray import RayExecutor

        return RayExecutor(address=engine_cfg.ray_address)
    return LocalExecutor(workers=resolve_workers(engine_cfg.workers), min_items=engine_cfg.parallel_min)
