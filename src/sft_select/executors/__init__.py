"""Executors run batch functions; views never import them."""
from __future__ import annotations

from sft_select.executors.base import Executor
from sft_select.executors.local import LocalExecutor


def get_executor(engine_cfg) -> Executor:
    """The executor for the `engine` config section: local (this process) or ray (Ray Data actors)."""
    if engine_cfg.name == "ray":
        from sft_select.executors.ray import RayExecutor

        return RayExecutor(address=engine_cfg.ray_address)
    return LocalExecutor()
