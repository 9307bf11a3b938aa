"""Executors run batch functions; views never import them."""
from __future__ import annotations

from sft_select.executors.local import LocalExecutor


def get_executor(engine_cfg) -> LocalExecutor:
    """The executor for the `engine` config section."""
    if engine_cfg.name == "local":
        return LocalExecutor()
    from sft_select.errors import ConfigError

    raise ConfigError(f"engine '{engine_cfg.name}' is not available in this build")
