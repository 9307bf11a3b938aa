"""sft-select: select the best subset of a supervised fine-tuning dataset.

    import sft_select
    cfg = sft_select.load_config(None, {"select": {"n": 1000}})
    result = sft_select.run(["pool.jsonl"], "runs/demo", cfg, target="target.jsonl")
    result.selected_ids[:5]
"""
from sft_select.config.schema import Config, build_config, load_config
from sft_select.core.errors import ConfigError, InputError, SftSelectError
from sft_select.io.load import load
from sft_select.pipelines.in_memory import RunResult, run
from sft_select.core.record import Example, Turn
from sft_select.pipelines.reselect import reselect

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "Example", "InputError", "RunResult", "SftSelectError", "Turn",
           "build_config", "load", "load_config", "reselect", "run", "__version__"]
