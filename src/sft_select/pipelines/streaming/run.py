"""The streaming local engine: the pipeline over a pool larger than memory.

1. sample: a seeded sample (`engine.fit_sample` examples) that every view is fit on (k-means centroids,
   the DSIR pool model, the label proxy...): drawn by row from JSONL inputs (`io.row_offsets`), by a
   reservoir over a whole read from the others. A pool no larger than the sample is fit on whole, so
   its scores are the in-memory run's.
2. pass: a read of the inputs, `engine.chunk_size` examples at a time: filters, decontamination, dedup
   keys, LSH band keys, semantic dedup's embeddings and every view's scores, saved per chunk
   (`stream.chunk`). Only one chunk of examples is in memory; a killed run resumes from its finished
   chunks.
3. global steps over the saved arrays: exact dedup (equal keys), near dedup (band buckets, exact Jaccard
   on the candidates' shingles read back), semantic dedup, then the score table, the tune loop (on the
   sample's rows, in the pipeline), combine, resolve, select.
4. outputs: a last read writes the selected rows and rejected.jsonl in input order (`stream.outputs`).

Peak memory grows with the chunk and the sample, plus the score table (numbers and short reasons per
example) and the per-row id set; semantic dedup adds its embeddings (figures: docs/benchmarks.md
"Scale (local engine)").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.config.schema import Config
from sft_select.core.cache import fingerprint, ids_fingerprint
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.progress import info
from sft_select.pipelines.streaming.chunk import ChunkWork, load_shard, save_shard
from sft_select.pipelines.streaming.near import bands_for, candidate_pairs, verified
from sft_select.pipelines.streaming.source import Stream
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.near import near_links
from sft_select.preprocess.run import StepStats
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
    work = ChunkWork(cfg, fitted, executor, inputs, bands_for(cfg.preprocess.near),
                     # a tuned run may end on any strategy the loop tries
                     keep_embeddings=any(needs_embeddings(s) for s in
                                         (cfg.select.strategy, *(cfg.tune.strategies if keep_sample else ()))))
    steps = work.steps()  # a step this engine cannot run fails here, before the pass
    # v2: decontamination reasons as in memory (`decontaminated: <file>`), exact-dedup keys only when it is on
    key = fingerprint("stream-v2", cfg.model_dump(mode="json", exclude=_NOT_IN_SHARDS),
                      [str(p) for p in stream.paths], [str(f) for f in files],
                      ids_fingerprint(ex.id for ex in target) if target else None,
                      # what the selection settings add to a shard (select itself is left out above)
                      work.keep_embeddings, cfg.select.budget_tokens is not None and cfg.select.tokenizer)
    shard_root = out / "cache" / f"stream-{key}"
    frames, arrays = [], []
    resumed = 0
    with timer.step("pass"):
        for k, (chunk, known) in enumerate(stream.chunks_with(eng.chunk_size, work.alongside())):
            folder = shard_root / f"chunk-{k:06d}"
            saved = load_shard(folder, [ex.id for ex in chunk])
            if saved is None:
                frame, arr = work.process(chunk, known)
                save_shard(folder, frame, arr, {"examples": len(chunk)})
                saved = load_shard(folder, [ex.id for ex in chunk])  # memory-mapped back
            else:
                resumed += len(chunk)
            frames.append(saved[0])
            arrays.append(saved[1])
            info(f"chunk {k + 1}: {sum(len(f) for f in frames)} of {n} examples")
    if resumed:
        info(f"Resumed: {resumed} examples read back from finished chunks")
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    del frames
    with timer.step("dedup"):
        clusters, linked = _dedup(table, arrays, cfg, steps, executor)
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


@dataclass
class _Linking:
    """The global link steps' shared state: rows are the alive examples in pool order."""

    alive: np.ndarray
    clusters: DuplicateClusters
    distinct_rows: np.ndarray  # rows of `alive` compared by the steps after exact dedup
    details: dict[str, dict] = field(default_factory=dict)

    @property
    def distinct(self) -> np.ndarray:
        return self.alive[self.distinct_rows]


def _dedup(table: pd.DataFrame, arrays: list[dict[str, np.ndarray]], cfg: Config, steps, executor=None):
    """The enabled link steps (`LINK_SAVED`, in `preprocess.steps.STEPS` order) over the saved arrays."""
    alive = np.flatnonzero(table["filter_reason"].isna().to_numpy())
    state = _Linking(alive, DuplicateClusters(len(table)), np.arange(len(alive)))
    for step in steps:
        if step.link is None or not len(alive) or (step.pairs and len(state.distinct_rows) <= 1):
            continue
        LINK_SAVED[step.name](state, arrays, cfg, executor)
    return state.clusters, state.details


def _link_exact(state: _Linking, arrays: list[dict[str, np.ndarray]], cfg: Config, executor) -> None:
    """Equal keys. The grouping runs on the executor (a hash shuffle on Ray)."""
    alive = state.alive
    keys = np.concatenate([a["keys"] for a in arrays])
    if executor is not None:
        rep = executor.first_of_equal(keys)
    else:
        _, first, inverse = np.unique(keys.view(np.dtype((np.void, 16))).ravel(), return_index=True,
                                      return_inverse=True)
        rep = first[inverse.ravel()]
    dup = np.flatnonzero(rep != np.arange(len(alive)))
    state.clusters.link(zip(alive[rep[dup]].tolist(), alive[dup].tolist()), "exact")
    state.distinct_rows = np.flatnonzero(rep == np.arange(len(alive)))
    state.details["exact_dedup"] = {"out": len(state.distinct_rows)}


def _link_near(state: _Linking, arrays: list[dict[str, np.ndarray]], cfg: Config, executor) -> None:
    """Band buckets, then exact Jaccard on the candidates' shingles read back. With remote workers the
    executor builds the candidates from the all-bands matrix; otherwise one LSH band is bucketed at a
    time, to keep memory flat (the same kernel, the same pairs)."""
    alive, near = state.alive, cfg.preprocess.near

    def band_column(b: int) -> np.ndarray:
        return np.concatenate([np.asarray(a["bands"][:, b]) for a in arrays])

    valid = np.zeros(len(alive), dtype=bool)
    valid[state.distinct_rows] = True
    valid &= band_column(0) != 0  # documents without shingles
    n_bands = arrays[0]["bands"].shape[1]
    if executor is not None and executor.remote_workers:
        rows = np.flatnonzero(valid)
        matrix = np.stack([band_column(b)[rows] for b in range(n_bands)], axis=1)
        cand = rows[executor.band_pairs(matrix)] if len(rows) > 1 else np.zeros((0, 2), np.int64)
    else:
        cand = candidate_pairs(band_column, n_bands, valid)
    pairs, sims = verified(cand, _shingle_reader(arrays), near.threshold)
    links = near_links(pairs)  # rows of `alive`, in pool order: the in-memory run's grouping
    state.clusters.link(zip(alive[links[:, 0]].tolist(), alive[links[:, 1]].tolist()), "near")
    roots = len({state.clusters.find(int(p)) for p in alive})
    state.details["near_dedup"] = {"out": roots, "candidates": len(cand), "verified": len(pairs)}


def _link_semantic(state: _Linking, arrays: list[dict[str, np.ndarray]], cfg: Config, executor) -> None:
    from sft_select.preprocess.semantic import similar_pairs

    sem, distinct = cfg.preprocess.semantic, state.distinct
    x = _gather_rows(arrays, "semantic", state.distinct_rows)
    for a in arrays:  # the shards' pages read for the gather would otherwise stay resident beside x
        _drop_pages(a["semantic"])
    found = similar_pairs(x, sem.threshold, clusters=sem.clusters, seed=sem.seed)
    del x
    state.clusters.link(zip(distinct[found.pairs[:, 0]].tolist(), distinct[found.pairs[:, 1]].tolist()), "semantic")
    roots = len({state.clusters.find(int(p)) for p in state.alive})
    state.details["semantic_dedup"] = {"out": roots, "threshold": sem.threshold,
                                       "model": sem.model or cfg.embedding.model, **found.stats()}


# Per link step of preprocess.steps.STEPS: its global step over the arrays `chunk.KEEP` saved per chunk.
LINK_SAVED = {"exact_dedup": _link_exact, "near_dedup": _link_near, "semantic_dedup": _link_semantic}


def _drop_pages(array: np.ndarray) -> None:
    """Give back a memory-mapped shard array's resident pages (clean file pages: read again if touched)."""
    import mmap

    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def _gather_rows(arrays: list[dict[str, np.ndarray]], name: str, rows: np.ndarray) -> np.ndarray:
    """Rows (global alive indices) of a per-shard array, gathered from the shards' memory maps."""
    first = arrays[0][name]
    out = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
    for s, local, mask in by_shard([len(a[name]) for a in arrays], rows, masks=True):
        out[mask] = arrays[s][name][local]
    return out


def _shingle_reader(arrays: list[dict[str, np.ndarray]]):
    """Shingles of alive rows (global alive indices, sorted) gathered from each shard's memory map."""
    from sft_select.preprocess.shingles import Shingles

    sizes = [len(a["shingle_offsets"]) - 1 for a in arrays]

    def read(docs: np.ndarray) -> Shingles:
        parts, counts = [], []
        for s, local in by_shard(sizes, docs):
            offsets = np.asarray(arrays[s]["shingle_offsets"], dtype=np.int64)
            hashes = arrays[s]["shingles"]
            for i in local.tolist():
                parts.append(np.asarray(hashes[offsets[i]:offsets[i + 1]]))
                counts.append(offsets[i + 1] - offsets[i])
        offsets = np.zeros(len(counts) + 1, dtype=np.uint64)
        np.cumsum(counts, out=offsets[1:])
        return Shingles(np.concatenate(parts) if parts else np.zeros(0, np.uint64), offsets)

    return read


def by_shard(sizes: Sequence[int], rows: np.ndarray, *, masks: bool = False):
    """For global rows spread over consecutive shards of `sizes` rows: (shard, rows within it[, mask of
    `rows` in that shard]) for each shard that holds any, in shard order."""
    starts = np.r_[0, np.cumsum(np.asarray(sizes, dtype=np.int64))]
    shard = np.searchsorted(starts, rows, side="right") - 1
    for s in np.unique(shard).tolist():
        mask = shard == s
        yield (s, rows[mask] - starts[s], mask) if masks else (s, rows[mask] - starts[s])


def _step_stats(table: pd.DataFrame, work: ChunkWork, dedup: dict[str, dict]) -> list[StepStats]:
    """Manifest `steps`, counted from the table as the in-memory run counts them."""
    n = len(table)
    reasons = table["filter_reason"].dropna().astype(str)
    steps = [StepStats("filters", n, n - int(reasons.str.startswith("filter").sum()), work.seconds.get("filters", 0.0),
                       {"dropped": {k: int(v) for k, v in reasons.value_counts().sort_index().items()}})]
    alive = n - len(reasons)
    if "decontaminate" in work.seconds:
        steps.append(StepStats("decontaminate", steps[-1].count_out, alive, work.seconds["decontaminate"]))
    if "exact_dedup" in dedup:
        steps.append(StepStats("exact_dedup", alive, dedup["exact_dedup"]["out"], work.seconds.get("exact_dedup", 0.0)))
    if "near_dedup" in dedup:
        d = dedup["near_dedup"]
        steps.append(StepStats("near_dedup", alive, d["out"], work.seconds.get("near_dedup", 0.0),
                               {"candidates": d["candidates"], "verified": d["verified"]}))
    if "semantic_dedup" in dedup:
        d = dict(dedup["semantic_dedup"])
        steps.append(StepStats("semantic_dedup", alive, d.pop("out"), work.seconds.get("semantic_dedup", 0.0), d))
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
        return _gather_rows(self._arrays, name, self._rows(ids))

    def embeddings(self, ids: Sequence[str], why: str) -> np.ndarray:
        return self._gather("embeddings", ids, why)

    def tokens(self, ids: Sequence[str], tokenizer: str) -> np.ndarray:
        return self._gather("tokens", ids, "select.budget_tokens")

    def examples_for(self, ids: Sequence[str], why: str):
        raise ConfigError(f"select: {why} needs the examples in memory; set engine.streaming: off")
