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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sft_select.config.schema import Config
from sft_select.io.atomic import atomic_path
from sft_select.executors import pool as parallel
from sft_select.preprocess.exact import dedup_keys
from sft_select.preprocess.fields import field_text
from sft_select.preprocess.word_memo import forget_words
from sft_select.core.record import Example
from sft_select.scoring.driver import score_fitted_timed
from sft_select.scoring.table import _full_column
from sft_select.views.base import View

ARRAYS = ("keys", "bands", "shingles", "shingle_offsets", "semantic", "embeddings", "tokens")


@dataclass
class ChunkWork:
    """What each chunk goes through: preprocessing, the fitted views, and the arrays to keep."""

    cfg: Config
    views: Sequence[View]
    executor: Any
    evals: list = field(default_factory=list)  # decontamination n-gram tables, loaded once
    bands: int = 0
    keep_embeddings: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def _tick(self, name: str, start: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def alongside(self) -> dict[str, Callable[[Sequence[Example]], list]]:
        """Per-example jobs that can run while the chunk is read (`Stream.chunks_with`): their results
        go to `process(known=...)`."""
        from sft_select.preprocess.exact import key_job
        from sft_select.preprocess.filters import filter_job

        job = filter_job(self.cfg.preprocess.filters)
        return {"dedup_keys": key_job, **({"filters": job} if job else {})}

    def process(self, chunk: Sequence[Example], known: dict[str, list] | None = None
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The chunk's base table columns, view scores and arrays. `known`: results of `alongside()`'s jobs
        for every example of the chunk, where they ran while it was read."""
        pre = self.cfg.preprocess
        known = known or {}
        drops: dict[int, str] = {}
        t = time.perf_counter()
        if pre.filters.enabled:
            from sft_select.preprocess.filters import apply_filters

            reasons = known.get("filters")
            drops.update(apply_filters(chunk, range(len(chunk)), pre.filters,
                                       known=dict(enumerate(reasons)) if reasons is not None else None))
        self._tick("filters", t)
        if self.evals:
            from sft_select.preprocess.decontam import contaminated

            t = time.perf_counter()
            alive = [i for i in range(len(chunk)) if i not in drops]
            hits = contaminated([chunk[i].content for i in alive], self.evals, pre.decontaminate)
            drops.update({i: r for i, r in zip(alive, hits) if r})
            self._tick("decontaminate", t)
        alive = [i for i in range(len(chunk)) if i not in drops]
        live = [chunk[i] for i in alive]
        frame = pd.DataFrame({
            "id": [ex.id for ex in chunk], "source": [ex.source for ex in chunk],
            "row": np.array([ex.row for ex in chunk], dtype=np.int64), "label": [ex.label for ex in chunk],
            "chars": np.array([len(ex.content) for ex in chunk], dtype=np.int64),
            "filter_reason": [drops.get(i) for i in range(len(chunk))],
        })
        arrays: dict[str, np.ndarray] = {}
        t = time.perf_counter()
        # hashed while the chunk was read, or now in the run's worker processes when there are several
        keyed = known.get("dedup_keys")
        keys = np.frombuffer(b"".join([keyed[i] for i in alive]) if keyed is not None else
                             b"".join(parallel.run_parts(dedup_keys, live)), dtype=np.uint64)
        arrays["keys"] = keys.reshape(len(live), 2) if len(live) else np.zeros((0, 2), np.uint64)
        self._tick("exact_dedup", t)
        if pre.near.enabled:
            from sft_select.pipelines.streaming.near import shingles_and_band_keys

            t = time.perf_counter()
            # the chunk's word hashes are kept for relevance_dsir's scoring of the same contents below
            remember = pre.near.field == "content" and getattr(self.executor, "name", "local") == "local"
            sh, arrays["bands"] = shingles_and_band_keys([field_text(ex, pre.near.field) for ex in live], pre.near,
                                                         self.bands, remember=remember)
            arrays["shingles"], arrays["shingle_offsets"] = sh.hashes, sh.offsets
            self._tick("near_dedup", t)
        pos = np.asarray(alive, dtype=np.int64)
        # every view in one pass over the chunk: one embedding per example, one trip to the workers
        scored = score_fitted_timed(self.views, live, self.executor) if self.views else []
        forget_words()
        for view, (result, seconds) in zip(self.views, scored):
            self.seconds[view.name] = self.seconds.get(view.name, 0.0) + seconds
            frame[f"{view.name}_raw"] = _full_column(np.asarray(result.raw, dtype=float), pos, len(chunk))
            frame[f"{view.name}_reason"] = _full_column(np.array(result.reasons or [None] * len(live), dtype=object),
                                                   pos, len(chunk))
            for key, values in (result.extra or {}).items():
                frame[f"{view.name}_{key}"] = _full_column(np.asarray(values), pos, len(chunk))
        if self.keep_embeddings:
            from sft_select.models.embed.embedders import embed_examples

            arrays["embeddings"] = embed_examples(live, self.cfg.embedding.model).astype(np.float32)
        if pre.semantic.enabled:  # after the views: the content embeddings they made are reused
            from sft_select.preprocess.semantic import embed_field

            t = time.perf_counter()
            arrays["semantic"] = embed_field(live, pre.semantic.field,
                                             pre.semantic.model or self.cfg.embedding.model).astype(np.float32)
            self._tick("semantic_dedup", t)
        if self.cfg.select.budget_tokens is not None:
            from sft_select.selection.budget import token_counts

            arrays["tokens"] = np.asarray(token_counts(live, self.cfg.select.tokenizer), dtype=np.int64)
        from sft_select.models.embed.embedders import EmbeddingStore

        EmbeddingStore.forget_memory()  # the disk cache keeps them; memory holds one chunk's worth
        return frame, arrays


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
