"""`sft-select select RUN_DIR`: re-combine and re-select from a run's cached scores, without re-scoring.

New N, τ, weights or floors take seconds: only combine → resolve → select → write run again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sft_select.config.schema import build_config, deep_merge
from sft_select.core.errors import RunDirError
from sft_select.io.load import load
from sft_select.rundir.manifest import write_manifest
from sft_select.rundir.outputs import write_outputs
from sft_select.pipelines.in_memory import RunResult, weight_specs
from sft_select.core.progress import Timer, info
from sft_select.selection.strategies import Context
from sft_select.scoring.table import finalize, view_names


def read_run(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    manifest_path, scores_path = run_dir / "manifest.json", run_dir / "scores.parquet"
    if not manifest_path.exists() or not scores_path.exists():
        raise RunDirError(f"{run_dir}: not a finished sft-select run (manifest.json or scores.parquet missing)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{manifest_path}: unreadable manifest: {exc}") from None
    return manifest, pd.read_parquet(scores_path)


def reselect(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> RunResult:
    run_dir = Path(run_dir)
    manifest, table = read_run(run_dir)
    cfg = build_config(deep_merge(manifest["config"], overrides or {}), source=f"{run_dir}/manifest.json")
    timer = Timer()
    with timer.step("load"):
        inputs = [entry["path"] for entry in manifest["inputs"]]
        loaded = load(inputs, fmt=cfg.input.format, fields=cfg.input.fields, on_error=cfg.input.on_error)
    known = {ex.id for ex in loaded.examples}
    if set(table["id"]) != known:
        raise RunDirError(f"{run_dir}: the input files changed since the run; run `sft-select run` again")
    names = [n for n in view_names(table) if n in manifest["views"]["used"]]
    with timer.step("combine_select"):
        table, weights = finalize(table, weight_specs(cfg, names), cfg.select, keep=cfg.preprocess.keep,
                                  weights_policy=cfg.combine.weights, seed=cfg.seed,
                                  ctx=Context.of(loaded.examples, cfg.embedding.model))
    from sft_select.io.atomic import remove_path
    from sft_select.rundir.folder import _lock, release

    # Locked like a run, and manifest.json (the mark of a finished run) goes first: killed while the
    # outputs are rewritten, the folder reads as unfinished, never as a finished run with mixed outputs.
    _lock(run_dir)
    remove_path(run_dir / "manifest.json")
    with timer.step("write"):
        outputs = write_outputs(run_dir, table, loaded)
    from sft_select.rundir.manifest import counts

    manifest.update(status="complete", config=cfg.model_dump(mode="json"), outputs=outputs,
                    counts=counts(table, loaded), reselect_timings=timer.seconds)
    manifest["views"]["weights"] = weights
    from sft_select.report import report_after_run

    report_after_run(run_dir, cfg.report, loaded.examples, manifest=manifest, table=table)  # never raises
    write_manifest(run_dir, manifest, cfg)
    release(run_dir)
    info(f"Re-selected {int(table['selected'].sum())} of {len(table)} examples → {run_dir}")
    return RunResult(run_dir, table, manifest)
