"""Everything a streaming run computes per chunk, saved as one shard folder in the run's cache.

A shard holds, for the chunk's examples: `table.parquet` (the score table's base columns and each
view's raw value, reason and extra columns) and `.npy` arrays for the global steps that follow the pass:
exact-dedup keys, LSH band keys, word n-gram shingles (to verify near-duplicate candidates), semantic
dedup's embeddings (when it is on), the views' embeddings (only when the selection strategy reads them)
and token counts (only for a token budget).
The folder is written under a temporary name and renamed when complete, so a killed run resumes from
its finished shards: a shard whose folder exists is read back, never recomputed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sft_select.config.schema import Config
from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.executors import pool as parallel
from sft_select.io.atomic import atomic_path
from sft_select.preprocess.exact import dedup_keys
from sft_select.preprocess.fields import field_text
from sft_select.preprocess.steps import Step, StepInputs, enabled_steps
from sft_select.preprocess.word_memo import forget_words
from sft_select.scoring.driver import score_fitted_timed
from sft_select.scoring.table import base_columns, put_view
from sft_select.views.base import View

ARRAYS = ("keys", "bands", "shingles", "shingle_offsets", "semantic", "embeddings", "tokens")


@dataclass
class ChunkWork:
    """What each chunk goes through: the preprocessing steps (`preprocess.steps.STEPS`), the fitted views,
    and the arrays to keep."""

    cfg: Config
    views: Sequence[View]
    executor: Any
    inputs: StepInputs = field(default_factory=StepInputs)  # its decontamination tables load once per run
    bands: int = 0
    keep_embeddings: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def _tick(self, name: str, start: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def steps(self) -> list[Step]:
        """The enabled steps; a link step this engine cannot split over chunks is refused before the pass."""
        steps = enabled_steps(self.cfg.preprocess, self.inputs)
        for step in steps:
            if step.link is not None and step.name not in KEEP:
                raise ConfigError(f"preprocess step {step.name} does not run in a streaming run; set "
                                  "engine.streaming: off")
        return steps

    def alongside(self) -> dict[str, Callable[[Sequence[Example]], list]]:
        """Per-example jobs that can run while the chunk is read (`Stream.chunks_with`): their results
        go to `process(known=...)`."""
        from sft_select.preprocess.exact import key_job
        from sft_select.preprocess.filters import filter_job

        job = filter_job(self.cfg.preprocess.filters)
        return {**({"dedup_keys": key_job} if self.cfg.preprocess.exact_dedup else {}),
                **({"filters": job} if job else {})}

    def process(self, chunk: Sequence[Example], known: dict[str, list] | None = None
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The chunk's base table columns, view scores and arrays. `known`: results of `alongside()`'s jobs
        for every example of the chunk, where they ran while it was read."""
        known = known or {}
        reasons = known.get("filters")
        inputs = replace(self.inputs, known={"filters": dict(enumerate(reasons)) if reasons is not None else None,
                                             "dedup_keys": known.get("dedup_keys")})
        steps = self.steps()
        drops: dict[int, str] = {}
        alive = list(range(len(chunk)))
        for step in steps:  # the drop steps, as in memory; they come before every link step
            if step.drop is not None:
                t = time.perf_counter()
                dropped, _ = step.drop(chunk, alive, self.cfg.preprocess, inputs)
                drops.update(dropped)
                alive = [i for i in alive if i not in dropped]
                self._tick(step.name, t)
        live = [chunk[i] for i in alive]
        frame = base_columns(chunk, drops)
        arrays: dict[str, np.ndarray] = {}
        linked = [step for step in steps if step.link is not None]
        for step in linked:  # the link steps' per-example arrays; they are linked after the pass
            keep, after_views = KEEP[step.name]
            if not after_views:
                t = time.perf_counter()
                arrays.update(keep(self, live, alive, inputs))
                self._tick(step.name, t)
        pos = np.asarray(alive, dtype=np.int64)
        # every view in one pass over the chunk: one embedding per example, one trip to the workers
        scored = score_fitted_timed(self.views, live, self.executor) if self.views else []
        forget_words()
        for view, (result, seconds) in zip(self.views, scored):
            self.seconds[view.name] = self.seconds.get(view.name, 0.0) + seconds
            put_view(frame, view.name, np.asarray(result.raw, dtype=float), result.reasons, result.extra, pos)
        if self.keep_embeddings:
            from sft_select.models.embed.embedders import embed_examples

            arrays["embeddings"] = embed_examples(live, self.cfg.embedding.model).astype(np.float32)
        for step in linked:  # after the views: the content embeddings they made are reused
            keep, after_views = KEEP[step.name]
            if after_views:
                t = time.perf_counter()
                arrays.update(keep(self, live, alive, inputs))
                self._tick(step.name, t)
        if self.cfg.select.budget_tokens is not None:
            from sft_select.selection.budget import token_counts

            arrays["tokens"] = np.asarray(token_counts(live, self.cfg.select.tokenizer), dtype=np.int64)
        from sft_select.models.embed.embedders import EmbeddingStore

        EmbeddingStore.forget_memory()  # the disk cache keeps them; memory holds one chunk's worth
        return frame, arrays


def _keys(work: ChunkWork, live: Sequence[Example], alive: list[int], inputs: StepInputs) -> dict[str, np.ndarray]:
    """Exact dedup: each example's 128-bit key, hashed while the chunk was read, or now in the run's
    worker processes when there are several."""
    keyed = inputs.known.get("dedup_keys")
    keys = np.frombuffer(b"".join([keyed[i] for i in alive]) if keyed is not None else
                         b"".join(parallel.run_parts(dedup_keys, live)), dtype=np.uint64)
    return {"keys": keys.reshape(len(live), 2) if len(live) else np.zeros((0, 2), np.uint64)}


def _bands(work: ChunkWork, live: Sequence[Example], alive: list[int], inputs: StepInputs) -> dict[str, np.ndarray]:
    """Near dedup: each example's LSH band keys, and its shingles to verify the candidate pairs."""
    from sft_select.pipelines.streaming.near import shingles_and_band_keys

    near = work.cfg.preprocess.near
    # the chunk's word hashes are kept for relevance_dsir's scoring of the same contents below, which
    # reads them only where the views score in this process or its forks
    remember = near.field == "content" and (work.executor is None or work.executor.shares_memory)
    sh, bands = shingles_and_band_keys([field_text(ex, near.field) for ex in live], near, work.bands,
                                       remember=remember)
    return {"bands": bands, "shingles": sh.hashes, "shingle_offsets": sh.offsets}


def _semantic(work: ChunkWork, live: Sequence[Example], alive: list[int],
              inputs: StepInputs) -> dict[str, np.ndarray]:
    """Semantic dedup: each example's embedding of its field."""
    from sft_select.preprocess.semantic import embed_field

    sem = work.cfg.preprocess.semantic
    return {"semantic": embed_field(live, sem.field, sem.model or work.cfg.embedding.model).astype(np.float32)}


# Per link step: its per-chunk arrays, and whether they are made after the views (run.LINK_SAVED links
# them after the pass).
KEEP: dict[str, tuple[Callable[..., dict[str, np.ndarray]], bool]] = {
    "exact_dedup": (_keys, False),
    "near_dedup": (_bands, False),
    "semantic_dedup": (_semantic, True),
}


def save_shard(folder: Path, frame: pd.DataFrame, arrays: dict[str, np.ndarray], meta: dict) -> None:
    with atomic_path(folder, is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp / "table.parquet", index=False)
        for name, values in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(values), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta))


def load_shard(folder: Path, ids: Sequence[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]] | None:
    """A finished shard for exactly these example ids, or None (then the chunk is processed again)."""
    if not (folder / "meta.json").exists():
        return None
    frame = pd.read_parquet(folder / "table.parquet")
    if frame["id"].tolist() != list(ids):
        return None
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
              for name in ARRAYS if (folder / f"{name}.npy").exists()}
    return frame, arrays
