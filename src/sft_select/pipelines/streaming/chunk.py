"""Everything a streaming run computes per chunk, saved as one table shard of the shared shard cache
(core/shard_cache.py) in the run's cache (pipelines/streaming/run.py).

A chunk's shard holds, for its examples: the table (the score table's base columns and each view's raw
value, reason and extra columns) and arrays for what follows the pass: each enabled link step's
(`preprocess.steps.Streamed.keep`: exact-dedup keys, LSH band keys and word n-gram shingles, semantic
dedup's embeddings), the views' embeddings (only when the selection strategy reads them) and token
counts (only for a token budget). The arrays are written first and the table last, so a killed run
resumes from its finished chunks: a chunk whose table is on disk for exactly its ids is read back,
never recomputed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sft_select.config.schema import Config
from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.preprocess.steps import Step, StepInputs, enabled_steps
from sft_select.preprocess.word_memo import forget_words
from sft_select.scoring.driver import score_fitted_timed
from sft_select.scoring.table import base_columns, put_view
from sft_select.views.base import View


@dataclass
class ChunkWork:
    """What each chunk goes through: the preprocessing steps (`preprocess.steps.STEPS`), the fitted views,
    and the arrays to keep."""

    cfg: Config
    views: Sequence[View]
    executor: Any
    inputs: StepInputs = field(default_factory=StepInputs)  # its decontamination tables load once per run
    keep_embeddings: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def _tick(self, name: str, start: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def steps(self) -> list[Step]:
        """The enabled steps; a link step not declared split for a streamed run (`Step.streamed`) is
        refused before the pass."""
        steps = enabled_steps(self.cfg.preprocess, self.inputs)
        for step in steps:
            if step.link is not None and step.streamed is None:
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
        for step in linked:  # the link steps' arrays of the live examples; they are linked after the pass
            if not step.streamed.after_views:
                self._keep(step, chunk, alive, inputs, arrays)
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
            if step.streamed.after_views:
                self._keep(step, chunk, alive, inputs, arrays)
        if self.cfg.select.budget_tokens is not None:
            from sft_select.selection.budget import token_counts

            arrays["tokens"] = np.asarray(token_counts(live, self.cfg.select.tokenizer), dtype=np.int64)
        from sft_select.models.embed.embedders import EmbeddingStore

        EmbeddingStore.forget_memory()  # the disk cache keeps them; memory holds one chunk's worth
        return frame, arrays

    def _keep(self, step: Step, chunk: Sequence[Example], alive: list[int], inputs: StepInputs,
              arrays: dict[str, np.ndarray]) -> None:
        t = time.perf_counter()
        kept = step.streamed.keep(chunk, alive, self.cfg.preprocess, inputs)
        clash = set(kept) & set(arrays)
        if clash:  # two steps' arrays under one name would silently feed one step the other's
            raise RuntimeError(f"preprocess step {step.name} keeps arrays another step keeps: {sorted(clash)}")
        arrays.update(kept)
        self._tick(step.name, t)
