"""The streaming local engine: the pipeline over a pool larger than memory.

1. sample: a seeded sample (`engine.fit_sample` examples) that every view is fit on (k-means centroids,
   the DSIR pool model, the label proxy...): drawn by row from JSONL inputs (`io.row_offsets`), by a
   reservoir over a whole read from the others. A pool no larger than the sample is fit on whole, so
   its scores are the in-memory run's.
2. pass: a read of the inputs, `engine.chunk_size` examples at a time: the drop steps (filters,
   decontamination), the link steps' arrays (`Step.streamed.keep`: dedup keys, LSH band keys, semantic
   dedup's embeddings) and every view's scores, saved per chunk as a table shard of the shared shard
   cache (`chunk.py`, core/shard_cache.py). Only one chunk of examples is in memory; a killed run
   resumes from its finished chunks.
3. global steps over the saved arrays: each link step's `Step.streamed.link` in `preprocess.steps.STEPS`
   order (exact dedup: equal keys; near dedup: band buckets, exact Jaccard on the candidates' shingles
   read back; semantic dedup), then the score table, the tune loop (on the sample's rows, in the
   pipeline), combine, resolve, select.
4. outputs: a last read writes the selected rows and rejected.jsonl in input order (`stream.outputs`).

Peak memory grows with the chunk and the sample, plus the score table (numbers and short reasons per
example) and the per-row id set; semantic dedup adds its embeddings (figures: docs/benchmarks.md
"Scale (local engine)").
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.config.schema import Config
from sft_select.core.cache import fingerprint, ids_fingerprint
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.progress import info
from sft_select.core.shard_cache import ShardCache, TableShard
from sft_select.pipelines.streaming.chunk import ChunkWork
from sft_select.pipelines.streaming.source import Stream
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.run import StepStats
from sft_select.preprocess.saved import SavedRows, gather_rows
from sft_select.preprocess.steps import StepInputs
from sft_select.scoring.driver import ScoringResult, ViewScores
from sft_select.selection.strategies import needs_embeddings
from sft_select.views.base import View

# Config parts that do not change a shard's contents, so changing them keeps finished shards usable.
_NOT_IN_SHARDS = {"report": True, "tune": True, "select": True, "combine": True,
                  "engine": {"workers": True, "parallel_min": True}}


def stream_pass(stream: Stream, cfg: Config, views: Sequence[View], target, executor, out: Path, timer,
                decontaminate: Sequence[str | Path] = (), keep_sample: bool = False):
    """Steps 1-3; returns (table, pre_steps, scoring, ctx) as the in-memory pipeline has them, and the
    sample the views were fit on when `keep_sample` (a tuned run's loop runs on it), else None."""
    eng = cfg.engine
    with timer.step("sample"):
        sample, n = stream.sample(eng.fit_sample, cfg.seed)
    if n == 0:
        raise InputError(", ".join(map(str, stream.paths)), "no usable examples in the input")
    info(f"Streaming {n} examples in chunks of {eng.chunk_size}; views fit on {len(sample)} of them")
    scoring = ScoringResult()
    fitted = []
    with timer.step("fit"):
        fit_on = _unfiltered(sample, cfg, target, decontaminate)
        for view in views:
            named = cfg.views.use is not None
            why = view.skip_reason(fit_on, target) if named else view.default_skip_reason(fit_on, target)
            if why:
                scoring.skipped[view.name] = why
                if cfg.views.use is not None:  # as in-memory: only views the user named are announced
                    info(f"[yellow]skipping {view.name}[/yellow]: {why}")
                continue
            view.fit(fit_on, target)
            fitted.append(view)
        del fit_on
    if not keep_sample:
        sample = None  # its examples are freed before the pass reads the chunks
    inputs = StepInputs(decontaminate, cfg.embedding.model, executor)
    files = inputs.eval_files(cfg.preprocess)
    work = ChunkWork(cfg, fitted, executor, inputs,
                     # a tuned run may end on any strategy the loop tries
                     keep_embeddings=any(needs_embeddings(s) for s in
                                         (cfg.select.strategy, *(cfg.tune.strategies if keep_sample else ()))))
    steps = work.steps()  # a step this engine cannot run fails here, before the pass
    # v2: decontamination reasons as in memory (`decontaminated: <file>`), exact-dedup keys only when it is on;
    # v3: chunks as table shards of the shard cache (files in one folder, no longer a folder per chunk)
    key = fingerprint("stream-v3", cfg.model_dump(mode="json", exclude=_NOT_IN_SHARDS),
                      [str(p) for p in stream.paths], [str(f) for f in files],
                      ids_fingerprint(ex.id for ex in target) if target else None,
                      # what the selection settings add to a shard (select itself is left out above)
                      work.keep_embeddings, cfg.select.budget_tokens is not None and cfg.select.tokenizer)
    shards = ShardCache(out / "cache" / f"stream-{key}", mmap=True, on_damaged=_damaged_chunk)
    frames, arrays = [], []
    resumed = 0
    with timer.step("pass"):
        for k, (chunk, known) in enumerate(stream.chunks_with(eng.chunk_size, work.alongside())):
            name, ids = f"chunk-{k:06d}", [ex.id for ex in chunk]
            saved = shards.get_table(ids, name=name)
            if saved is None:
                frame, arr = work.process(chunk, known)
                shards.put_table(frame, name=name, arrays=arr)
                # memory-mapped back, so the arrays cost no memory until the global steps read them
                saved = shards.get_table(ids, name=name) or TableShard(frame, arr)
            else:
                resumed += len(chunk)
            frames.append(saved.table)
            arrays.append(saved.arrays)
            info(f"chunk {k + 1}: {sum(len(f) for f in frames)} of {n} examples")
    if resumed:
        info(f"Resumed: {resumed} examples read back from finished chunks")
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    del frames
    with timer.step("dedup"):
        clusters, linked = _dedup(table, arrays, cfg, steps, inputs)
    cluster, kind = clusters.columns(table["id"].tolist())
    table.insert(table.columns.get_loc("filter_reason") + 1, "dup_cluster", cluster)
    table.insert(table.columns.get_loc("dup_cluster") + 1, "dup_kind", kind)
    steps = _step_stats(table, work, linked)
    alive = np.flatnonzero(table["filter_reason"].isna().to_numpy())
    for view in fitted:
        scoring.scores.append(_view_scores(view.name, table, alive, work.seconds.get(view.name, 0.0)))
    # The selection reads only embeddings and token counts back; dropping the other memory maps (keys,
    # band keys, shingles: their pages stay resident once dedup has read them) keeps them out of the
    # rest of the run's peak memory.
    kept = [{name: a[name] for name in ("embeddings", "tokens") if name in a} for a in arrays]
    del arrays
    ctx = StreamContext(table["id"], alive, kept, cfg.embedding.model)
    return table, steps, scoring, ctx, sample


def _damaged_chunk(path: Path, exc: Exception) -> None:
    info(f"[yellow]recomputing an unreadable chunk[/yellow] {path}: {exc}")


def _unfiltered(sample: list, cfg: Config, target, decontaminate: Sequence[str | Path]) -> list:
    """The sample without the examples the filters or decontamination drop: the in-memory run fits its
    views on the examples that pass them, so a pool no larger than the sample gets the same fit (k-means
    on 2,994 instead of 2,996 Dolly rows placed other centroids: 198 of 500 selected rows differed).
    Dedup is left out, as in-memory, where duplicates are scored and resolved after."""
    from sft_select.preprocess.run import run_preprocess

    pre_cfg = cfg.preprocess.model_copy(update={
        "exact_dedup": False, "near": cfg.preprocess.near.model_copy(update={"enabled": False}),
        "semantic": cfg.preprocess.semantic.model_copy(update={"enabled": False})})
    drops = run_preprocess(sample, pre_cfg, target, decontaminate=decontaminate,
                           embedder=cfg.embedding.model).drops
    kept = [ex for i, ex in enumerate(sample) if i not in drops]
    return kept or sample  # a sample that the filters drop whole: fit on it rather than on nothing


def _dedup(table: pd.DataFrame, arrays: list[dict[str, np.ndarray]], cfg: Config, steps, inputs: StepInputs):
    """The enabled link steps' global halves (`Step.streamed.link`, in `preprocess.steps.STEPS` order) over
    the saved arrays; per step its count out (as the in-memory run counts it) and details."""
    alive = np.flatnonzero(table["filter_reason"].isna().to_numpy())
    saved = SavedRows(arrays, alive, DuplicateClusters(len(table)), np.arange(len(alive)))
    linked: dict[str, tuple[int, dict]] = {}
    for step in steps:
        if step.link is None or not len(alive) or (step.pairs and len(saved.distinct_rows) <= 1):
            continue
        details = step.streamed.link(saved, cfg.preprocess, inputs)
        linked[step.name] = (len(saved.distinct_rows) if step.narrows else saved.groups(), details)
    return saved.clusters, linked


def _step_stats(table: pd.DataFrame, work: ChunkWork, dedup: dict[str, tuple[int, dict]]) -> list[StepStats]:
    """Manifest `steps`, counted from the table as the in-memory run counts them."""
    n = len(table)
    reasons = table["filter_reason"].dropna().astype(str)
    steps = [StepStats("filters", n, n - int(reasons.str.startswith("filter").sum()), work.seconds.get("filters", 0.0),
                       {"dropped": {k: int(v) for k, v in reasons.value_counts().sort_index().items()}})]
    alive = n - len(reasons)
    if "decontaminate" in work.seconds:
        steps.append(StepStats("decontaminate", steps[-1].count_out, alive, work.seconds["decontaminate"]))
    for name, (out, details) in dedup.items():
        steps.append(StepStats(name, alive, out, work.seconds.get(name, 0.0), details))
    return steps


def _view_scores(name: str, table: pd.DataFrame, alive: np.ndarray, seconds: float) -> ViewScores:
    """A view's values over the alive rows, as the in-memory scoring returns them."""
    prefix = f"{name}_"
    extra = {c[len(prefix):]: table[c].to_numpy()[alive] for c in table.columns
             if c.startswith(prefix) and c not in (f"{name}_raw", f"{name}_reason")}
    return ViewScores(name, table[f"{name}_raw"].to_numpy()[alive], table[f"{name}_reason"].to_numpy()[alive].tolist(),
                      seconds, False, extra)


class StreamContext:
    """The selection `Context` of a streaming run: embeddings and token counts from the shards."""

    executor = None  # as `Context`'s default: selection's global steps run locally, in this process

    def __init__(self, ids: pd.Series, alive: np.ndarray, arrays: list[dict[str, np.ndarray]], embedder: str):
        self._row = None
        self._ids = ids
        self._alive_rank = np.full(len(ids), -1, dtype=np.int64)
        self._alive_rank[alive] = np.arange(len(alive))
        self._arrays = arrays
        self.embedder = embedder

    def _rows(self, ids: Sequence[str]) -> np.ndarray:
        if self._row is None:
            self._row = pd.Index(self._ids)
        ranks = self._alive_rank[self._row.get_indexer(list(ids))]
        if (ranks < 0).any():
            raise ConfigError("select: an id without saved arrays was asked for (filtered rows are never selected)")
        return ranks

    def _gather(self, name: str, ids: Sequence[str], why: str) -> np.ndarray:
        if any(name not in a for a in self._arrays):
            raise ConfigError(f"select: {why} needs {name} that this streaming run did not keep")
        return gather_rows(self._arrays, name, self._rows(ids))

    def embeddings(self, ids: Sequence[str], why: str) -> np.ndarray:
        return self._gather("embeddings", ids, why)

    def tokens(self, ids: Sequence[str], tokenizer: str) -> np.ndarray:
        return self._gather("tokens", ids, "select.budget_tokens")

    def examples_for(self, ids: Sequence[str], why: str):
        raise ConfigError(f"select: {why} needs the examples in memory; set engine.streaming: off")
