"""The pipeline: load → preprocess → score → combine → select → write, each step timed.

Every step is a plain function over examples and the score table; the executor is passed in, so the
local engine and the Ray engine run the same steps.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.markup import escape

from sft_select.config.schema import Config
from sft_select.core.device import gpu_available
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.progress import Timer, info
from sft_select.core.record import Example
from sft_select.executors import get_executor
from sft_select.executors import pool as parallel
from sft_select.io.export import Export
from sft_select.io.load import Loaded, load
from sft_select.preprocess.exact import key_job
from sft_select.preprocess.filters import filter_job
from sft_select.preprocess.run import run_preprocess
from sft_select.preprocess.word_memo import forget_words
from sft_select.rundir.folder import prepare, release
from sft_select.rundir.manifest import build_manifest, file_fingerprint
from sft_select.rundir.outputs import write_outputs
from sft_select.scoring.driver import score_all
from sft_select.scoring.table import add_scores, base_table
from sft_select.selection.finalize import finalize, weight_specs
from sft_select.selection.strategies import Context
from sft_select.views.base import View
from sft_select.views.registry import build, registered, resolve_names


@dataclass
class RunResult:
    run_dir: Path
    table: pd.DataFrame
    manifest: dict

    @property
    def selected_ids(self) -> list[str]:
        return self.table.loc[self.table["selected"].fillna(False).astype(bool), "id"].tolist()


def choose_views(cfg: Config, *, gpu: bool | None = None) -> list[View]:
    """The views the config names, or by default every view that is fast on this machine."""
    if cfg.views.use is not None:
        names = resolve_names(cfg.views.use)
    else:
        gpu = gpu_available() if gpu is None else gpu
        names = [n for n, cls in registered().items() if cls.default_on and (cls.cpu_fast or gpu)]
    views = []
    for name in names:
        settings = cfg.views.settings.get(name)
        params = dict(settings.params) if settings else {}
        cls = registered()[name]
        if "model" in cls.param_names() and "model" not in params and cls.param_defaults()["model"] == "static-minilm":
            params["model"] = cfg.embedding.model  # views that embed share the configured embedder
        views.append(build(name, params))
    return views


def load_target(path: str | Path | None, cfg: Config) -> list[Example]:
    if path is None:
        return []
    loaded = load([path], fields=cfg.input.fields, on_error="fail")
    if not loaded.examples:
        raise InputError(path, "the target file holds no usable examples")
    return loaded.examples


def run(inputs: Sequence[str | Path], out: str | Path, cfg: Config | None = None, *,
        target: str | Path | None = None, force: bool = False, stop_after: str = "select",
        decontaminate: Sequence[str | Path] = (), validation: str | Path | None = None) -> RunResult:
    """Run the pipeline on `inputs` and write the run directory `out`; `stop_after="score"` skips selection.

    `decontaminate`: evaluation files whose 13-grams must not occur in the selection (added to the
    config's). With a `validation` file (and `tune.enabled`), the tune loop picks the view weights and τ
    before the final selection (sft_select.tune.loop), and the run is written with the tuned config.
    On the local engine, per-example steps use `engine.workers` processes (sft_select.executors.pool).
    """
    cfg = cfg or Config()
    # One executor per run. The local one owns the run's worker pool, open from the first read; the Ray
    # engine joins or starts its instance only once the inputs have passed the checks (in `_run`).
    executor = get_executor(cfg.engine) if cfg.engine.name == "local" else None
    try:
        with executor if executor is not None else nullcontext():
            return _run(inputs, out, cfg, target=target, force=force, stop_after=stop_after,
                        decontaminate=decontaminate, validation=validation, executor=executor)
    finally:
        forget_words()  # near dedup's word hashes of this pool, kept for relevance_dsir


def _run(inputs: Sequence[str | Path], out: str | Path, cfg: Config, *, target: str | Path | None = None,
         force: bool = False, stop_after: str = "select", decontaminate: Sequence[str | Path] = (),
         validation: str | Path | None = None, executor=None) -> RunResult:
    if not inputs:
        raise ConfigError("give at least one input file")
    if stop_after == "select" and not cfg.select.has_size():
        raise ConfigError("say how much to keep: -n N, --fraction F, --threshold T or select.budget_tokens "
                          "(or select.n in the config)")
    out = Path(out)
    views = choose_views(cfg)  # config errors surface before anything is read or written
    if not views:
        raise ConfigError("no view selected: name at least one with --views")
    from sft_select.preprocess.decontam import check_eval_files

    check_eval_files([*cfg.preprocess.decontaminate.files, *decontaminate])  # before the run dir is made
    if streams(cfg, inputs):
        return _run_streaming(inputs, out, cfg, views, target=target, force=force, stop_after=stop_after,
                              decontaminate=decontaminate, executor=executor,
                              validation=validation if cfg.tune.enabled and stop_after == "select" else None)
    timer = Timer()
    with timer.step("load"):
        # filtered, and the exact-dedup keys hashed, while the rest of the input is read
        job = filter_job(cfg.preprocess.filters)
        jobs = {"filters": job} if job else {}
        if cfg.preprocess.exact_dedup:
            jobs["dedup_keys"] = key_job
        loaded = load(inputs, fmt=cfg.input.format, fields=cfg.input.fields, on_error=cfg.input.on_error,
                      alongside=jobs, split=cfg.input.split)
        reasons = loaded.alongside.get("filters")
        known_filters = dict(enumerate(reasons)) if reasons is not None else None
        target_examples = load_target(target, cfg)
        tuning = validation is not None and cfg.tune.enabled and stop_after == "select"
        if tuning:  # read before scoring, so a bad validation file fails in seconds, not after scoring
            from sft_select.tune.loop import load_validation, tune_step

            validation_examples = load_validation(validation, cfg)
    if not loaded.examples:
        raise InputError(", ".join(map(str, inputs)), "no usable examples in the input")
    if stop_after == "select":  # an output format the data cannot take fails before scoring, not after
        Export.of(cfg.output.format, loaded.formats, cfg.input.fields)
    resumed = prepare(out, force=force, protect=[*inputs, *([target] if target else [])])
    if resumed:
        info(f"Resuming the unfinished run in {escape(str(out))}")
    info(f"Loaded {len(loaded.examples)} examples from {len(inputs)} file(s)"
         + (f", {len(loaded.rejected)} unreadable rows skipped" if loaded.rejected else ""))

    executor = executor if executor is not None else get_executor(cfg.engine)
    with timer.step("preprocess"):
        pre = run_preprocess(loaded.examples, cfg.preprocess, target_examples, decontaminate=decontaminate,
                             embedder=cfg.embedding.model, executor=executor,
                             known_filters=known_filters, known_keys=loaded.alongside.get("dedup_keys"))
    table = base_table(loaded.examples, pre)
    alive = np.flatnonzero(table["filter_reason"].isna().to_numpy())
    pool = [loaded.examples[i] for i in alive]

    with timer.step("score"):
        scoring = score_all(views, pool, target_examples or None, executor, out / "cache",
                             announce_skips=cfg.views.use is not None)
    if not scoring.scores:
        raise ConfigError("every selected view was skipped: " + "; ".join(scoring.skipped.values()))
    table = add_scores(table, scoring, alive)
    cfg = resolved_strategy(cfg, table)
    guard = None
    if tuning:
        with timer.step("tune"):
            cfg, guard = tune_step(out, table, loaded.examples, cfg, validation, validation_examples,
                                  [vs.name for vs in scoring.scores])
    return _finish(out, table, loaded, cfg, stop_after=stop_after, timer=timer, pre_steps=pre.steps,
                   scoring=scoring, inputs=inputs, target=target, executor=executor,
                   guard=guard_summary(guard, "used" if tuning else "absent" if validation is None else "unused"))


def resolved_strategy(cfg: Config, table: pd.DataFrame) -> Config:
    """`select.strategy: auto` made concrete for this scored table (selection/auto.py), so the tune loop,
    the manifest and config.yaml name the strategy that ran."""
    from sft_select.selection.auto import resolve_auto

    select = resolve_auto(cfg.select, table)
    return cfg if select is cfg.select else cfg.model_copy(update={"select": select})


def guard_summary(guard: dict | None, validation: str) -> dict:
    """The manifest's `guard`: the tune loop's decision, or why S could not be compared with random subsets or
    the whole pool. `validation`: "used" (the loop ran), "unused" (given, loop off) or "absent"."""
    if guard is not None:
        return guard
    if validation == "used":
        reason = "the guard did not run (tune.guard: false, or no holdout: tune.holdout 0)"
    elif validation == "unused":
        reason = ("the validation file was not used (--no-tune or tune.enabled: false): S was not compared with "
                  "random subsets of its size or with the whole pool")
    else:
        reason = ("no validation file: S was not compared with random subsets of its size or with the whole pool; "
                  "pass --validation FILE (held-out examples of your task) to measure it and to guard against "
                  "a selection worse than random")
    return {"decision": None, "reason": reason}


def streams(cfg: Config, inputs: Sequence[str | Path]) -> bool:
    """Whether this run reads the pool chunk by chunk (`engine.streaming`; auto: by the size of the inputs'
    data once read, so a gzip or Parquet file counts decompressed)."""
    from sft_select.io.readers import data_bytes

    mode = cfg.engine.streaming
    if mode != "auto" or cfg.engine.name != "local":
        return mode == "on"
    size = sum(data_bytes(Path(p), cfg.input.split) for p in inputs if Path(p).exists())
    return size > cfg.engine.stream_above_mb * 1e6


def _run_streaming(inputs, out: Path, cfg: Config, views: list[View], *, target, force: bool, stop_after: str,
                   decontaminate, validation: str | Path | None, executor=None) -> RunResult:
    """The streaming local engine (sft_select.pipelines.streaming.run): same outputs, one chunk in memory at a time.
    With a `validation` file the tune loop runs on the sample the views were fit on (tune/loop.py
    `tune_on_sample`)."""
    from sft_select.pipelines.streaming.run import stream_pass
    from sft_select.pipelines.streaming.source import Stream
    from sft_select.tune.loop import load_validation, tune_on_sample

    timer = Timer()
    target_examples = load_target(target, cfg)
    # read before the pass, so a bad validation file fails in seconds, not after scoring
    validation_examples = load_validation(validation, cfg) if validation is not None else None
    stream = Stream(inputs, cfg.input.format, cfg.input.fields, cfg.input.on_error, cfg.input.split)
    resumed = prepare(out, force=force, protect=[*inputs, *([target] if target else [])])
    if resumed:
        info(f"Resuming the unfinished run in {escape(str(out))}")
    table, steps, scoring, ctx, sample = stream_pass(stream, cfg, views, target_examples or None,
                                                     executor if executor is not None else get_executor(cfg.engine),
                                                     out, timer, decontaminate,
                                                     keep_sample=validation is not None)
    if not scoring.scores:
        raise ConfigError("every selected view was skipped: " + "; ".join(scoring.skipped.values()))
    if stop_after == "select":  # the formats are known once the pass has read the inputs: before tuning
        Export.of(cfg.output.format, stream.formats, cfg.input.fields)
    cfg = resolved_strategy(cfg, table)
    guard = None
    if validation is not None:
        with timer.step("tune"):
            cfg, guard = tune_on_sample(out, table, sample, cfg, validation, validation_examples,
                                        [vs.name for vs in scoring.scores])
        del sample
    return _finish(out, table, Loaded(formats=stream.formats), cfg, stop_after=stop_after, timer=timer,
                   pre_steps=steps, scoring=scoring, inputs=inputs, target=target, ctx=ctx, stream=stream,
                   guard=guard_summary(guard, "used" if validation is not None else "absent"))


def _finish(out: Path, table: pd.DataFrame, loaded: Loaded, cfg: Config, *, stop_after: str, timer: Timer,
            pre_steps, scoring, inputs, target, ctx=None, stream=None, executor=None,
            guard: dict | None = None) -> RunResult:
    names = [vs.name for vs in scoring.scores]
    specs = weight_specs(cfg, names)
    with timer.step("combine_select"):
        select_cfg = cfg.select
        if stop_after == "score":
            select_cfg = select_cfg.model_copy(update={"n": None, "fraction": 1.0, "threshold": None,
                                                       "budget_tokens": None, "strategy": "top"})
        table, weights = finalize(table, specs, select_cfg, keep=cfg.preprocess.keep,
                                  weights_policy=cfg.combine.weights, seed=cfg.seed,
                                  ctx=ctx or Context.of(loaded.examples, cfg.embedding.model), executor=executor)
        if stop_after == "score":
            table["selected"] = False
            table.loc[table["reason"].isna(), "reason"] = None

    guard = guard if stop_after == "select" else None
    if guard is not None and guard["decision"] is None:
        info(f"[yellow]note:[/yellow] {guard['reason']}")

    def manifest_now(outputs: dict[str, str]) -> dict:
        manifest = build_manifest(cfg, inputs=inputs, target=target, loaded=loaded, table=table, timer=timer,
                                  pre_steps=pre_steps, scoring=scoring, weights=weights, outputs=outputs,
                                  status="complete" if stop_after == "select" else "scored")
        return {**manifest, "guard": guard} if guard is not None else manifest

    from sft_select.report import report_alongside
    from sft_select.rundir.manifest import write_manifest

    # The report goes before the manifest, which marks a finished run and so is written last. In memory
    # with workers on, a worker writes it while this process writes the outputs (so its timings end with
    # the selection; manifest.json has the write step's). Otherwise after the outputs: a streaming run's
    # worker forked from its end-of-run state would add that state's copied pages to its peak memory.
    alongside = stream is None and parallel.active() > 1
    manifest = manifest_now({}) if alongside else None  # outputs and the write's timing are added after
    report = report_alongside(out, cfg.report, loaded.examples, manifest=manifest, table=table) \
        if alongside else None
    try:
        scoring.wait_written()  # the views' cache files (scoring.score_all), before the outputs
        with timer.step("write"):
            if stream is None:
                outputs = write_outputs(out, table, loaded, write_selected=(stop_after == "select"),
                                        output_format=cfg.output.format, fields=cfg.input.fields)
            else:  # a streaming run reads the inputs once more; the report gets the examples it shows
                from sft_select.pipelines.streaming.outputs import report_ids, write_stream_outputs

                shown = report_ids(table, names, cfg.report.max_points, cfg.seed)
                outputs, loaded = write_stream_outputs(out, table, stream, write_selected=(stop_after == "select"),
                                                       report_ids=shown, output_format=cfg.output.format)
    except BaseException:
        if report is not None:
            report.cancel()  # type: ignore[attr-defined]
        raise
    # A streaming write reads the inputs again (their unreadable rows among the counts): built after it.
    manifest = {**manifest, "outputs": outputs, "timings": timer.seconds} if manifest else manifest_now(outputs)
    if report is None:
        report = report_alongside(out, cfg.report, loaded.examples, manifest=manifest, table=table,
                                  background=False)
    report()
    write_manifest(out, manifest, cfg)
    release(out)
    if stop_after == "score":  # nothing was selected: say what was done and what comes next
        n_views = len(scoring.scores)
        info(f"Scored {len(table)} examples with {n_views} view{'s' * (n_views != 1)} → {escape(str(out))}; "
             f"select from them with `sft-select select {escape(str(out))} -n N`")
    else:
        info(f"Selected {int(table['selected'].sum())} of {len(table)} examples → {escape(str(out))}")
    return RunResult(out, table, manifest)


__all__ = ["RunResult", "run", "choose_views", "weight_specs", "file_fingerprint"]
