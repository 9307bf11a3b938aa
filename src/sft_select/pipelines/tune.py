"""Tune a finished (or scored) run from Python or `sft-select tune`: search view weights, τ and the
strategy's settings for the best proxy score on a validation file, without re-scoring.

    result, tuned = sft_select.tune_run("runs/demo", "val.jsonl", {"select": {"n": 1000}})

Writes RUN_DIR/tune.json and RUN_DIR/tuned-config.yaml; with `apply`, re-selects the run with the tuned
config, which becomes the run's own. Each proxy evaluation is cached in RUN_DIR/cache/tune/, so a killed
tune, run again, reuses the evaluations it finished (tune/evaluations.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sft_select.config.schema import Config, build_config
from sft_select.pipelines.in_memory import streams
from sft_select.pipelines.reselect import reselect
from sft_select.rundir.manifest import write_manifest
from sft_select.rundir.reopen import reopen
from sft_select.tune.loop import (
    TuneResult,
    load_validation,
    tune_cache,
    tune_sample_table,
    tune_table,
    write_tune_outputs,
)


def tune_run(run_dir: str | Path, validation: str | Path, overrides: dict[str, Any] | None = None, *,
         apply: bool = False) -> tuple[TuneResult, Config]:
    """Tune the run in `run_dir` on `validation` with its config plus `overrides`; returns the loop's
    result (its `report` is tune.json) and the tuned config. A pool the run streamed is tuned on the
    views' fit sample, as the run itself does."""
    opened = reopen(run_dir, need_config=True)  # one clear error for a damaged run
    run_dir, table = opened.run_dir, opened.table
    cfg = opened.config(overrides)
    names = [v for v in opened.manifest["views"]["used"] if f"{v}_raw" in table]
    val = load_validation(validation, cfg)
    if streams(cfg, opened.inputs):
        from sft_select.pipelines.streaming.source import Stream

        sample, _ = Stream(opened.inputs, cfg.input.format, cfg.input.fields, cfg.input.on_error,
                           cfg.input.split).sample(
            cfg.engine.fit_sample, cfg.seed)
        if not {ex.id for ex in sample} <= set(table["id"]):
            raise opened.changed()
        result, tuned = tune_sample_table(table, sample, cfg, val, names, validation_path=validation,
                                          cache_dir=tune_cache(run_dir))
    else:
        loaded = opened.load_inputs(cfg)
        result, tuned = tune_table(table, loaded.examples, cfg, val, names, validation_path=validation,
                                   cache_dir=tune_cache(run_dir))
    write_tune_outputs(run_dir, result, tuned)
    if apply:
        apply_tuned(run_dir, tuned)
    return result, tuned


def apply_tuned(run_dir: str | Path, tuned: Config) -> None:
    """Re-select the run with the tuned config, which becomes the run's own: the one every later `select`
    starts from."""
    applied = reselect(run_dir, tuned.model_dump(mode="json"))
    applied.manifest["run_config"] = applied.manifest["config"]
    write_manifest(Path(run_dir), applied.manifest, build_config(applied.manifest["config"]))
