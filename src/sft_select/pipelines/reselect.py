"""`sft-select select RUN_DIR`: re-combine and re-select from a run's cached scores, without re-scoring.

New N, τ, weights or floors take seconds: only combine → resolve → select → write run again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sft_select.core.progress import Timer, info
from sft_select.io.export import Export
from sft_select.pipelines.in_memory import RunResult
from sft_select.rundir.manifest import write_manifest
from sft_select.rundir.outputs import write_outputs
from sft_select.rundir.reopen import reopen
from sft_select.scoring.table import view_names
from sft_select.selection.finalize import finalize, weight_specs
from sft_select.selection.strategies import Context


def reselect(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> RunResult:
    """Combine and select again with the run's config plus `overrides`; rewrites the run's outputs."""
    opened = reopen(run_dir, need_config=True)
    run_dir, manifest, table = opened.run_dir, opened.manifest, opened.table
    cfg = opened.config(overrides)
    timer = Timer()
    with timer.step("load"):
        loaded = opened.load_inputs(cfg)
    Export.of(cfg.output.format, loaded.formats)  # a format the inputs cannot take fails before anything changes
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
        outputs = write_outputs(run_dir, table, loaded, output_format=cfg.output.format, fields=cfg.input.fields)
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
