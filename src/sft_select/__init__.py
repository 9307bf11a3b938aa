"""sft-select: select the best subset of a supervised fine-tuning dataset.

    import sft_select
    cfg = sft_select.load_config(None, {"select": {"n": 1000}})
    result = sft_select.run(["pool.jsonl"], "runs/demo", cfg, target="target.jsonl")
    result.selected_ids[:5]
    tune_result, tuned = sft_select.tune_run("runs/demo", "val.jsonl", apply=True)   # needs a validation file
    sft_select.dedup(["pool.jsonl"], "runs/dedup")
"""
from sft_select.config.schema import Config, build_config, load_config
from sft_select.core.errors import ConfigError, InputError, SftSelectError
from sft_select.core.record import Example, Turn
from sft_select.io.load import load
from sft_select.pipelines.dedup import run_dedup as dedup
from sft_select.pipelines.in_memory import RunResult, run
from sft_select.pipelines.push import push_to_hub
from sft_select.pipelines.reselect import reselect
from sft_select.pipelines.tune import tune_run

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "Example", "InputError", "RunResult", "SftSelectError", "Turn",
           "build_config", "dedup", "load", "load_config", "push_to_hub", "reselect", "run", "tune_run", "__version__"]
