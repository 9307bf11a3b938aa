"""The in-memory engine's preprocessing: the steps of `preprocess.steps.STEPS` over the whole pool, each
reporting its counts in and out and its time for the manifest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sft_select.core.progress import debug, progress_bar
from sft_select.core.record import Example
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.steps import StepInputs, enabled_steps


@dataclass
class StepStats:
    step: str
    count_in: int
    count_out: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"step": self.step, "in": self.count_in, "out": self.count_out, "seconds": round(self.seconds, 4)}
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class PreprocessResult:
    drops: dict[int, str]  # pool position -> reason
    clusters: DuplicateClusters
    steps: list[StepStats] = field(default_factory=list)


def run_preprocess(examples: Sequence[Example], cfg: PreprocessConfig, target: Sequence[Example] | None = None, *,
                   decontaminate: Sequence[str | Path] = (), embedder: str = "static-minilm",
                   executor=None, known_filters: dict[int, str | None] | None = None,
                   known_keys: Sequence[bytes] | None = None) -> PreprocessResult:
    """Run the enabled steps of `preprocess.steps.STEPS` over the pool, in order.

    `decontaminate` adds evaluation files to `cfg.decontaminate.files`; `embedder` is the run's
    embedding model, used by semantic dedup unless its section names another. `executor` (default:
    local) runs the global steps of exact and near dedup (grouping equal hashes, LSH band buckets).
    `known_filters`: filter reasons already computed while the input was read (`filter_job`);
    `known_keys`: every example's exact-dedup key, likewise (`exact.key_job`)."""
    known: dict[str, Any] = {}
    if known_filters is not None:
        known["filters"] = known_filters
    if known_keys is not None:
        known["dedup_keys"] = known_keys
    inputs = StepInputs(decontaminate, embedder, executor, known)
    result = PreprocessResult(drops={}, clusters=DuplicateClusters(len(examples)))
    alive = list(range(len(examples)))
    distinct, narrowed = alive, False  # one member per exact-duplicate cluster, once exact dedup has run
    steps = list(enabled_steps(cfg, inputs))
    # By step, so a long one (near or semantic dedup of a large pool) shows elapsed time and an ETA.
    with progress_bar("preprocessing: " + ", ".join(step.name for step in steps), total=len(steps)) as advance:
        for step in steps:
            if step.pairs and len(distinct) <= 1:
                advance(1)
                continue
            start = time.perf_counter()
            if step.drop is not None:
                dropped, details = step.drop(examples, alive, cfg, inputs)
                result.drops.update(dropped)
                before, alive = len(alive), [p for p in alive if p not in dropped]
                distinct = [p for p in distinct if p not in dropped] if narrowed else alive
                count_in, count_out = before, len(alive)
            else:
                details = step.link(examples, distinct, result.clusters, cfg, inputs)
                if step.narrows:
                    distinct, narrowed = [p for p in alive if result.clusters.find(p) == p], True
                    count_out = len(distinct)
                else:
                    count_out = len({result.clusters.find(p) for p in alive})
                count_in = len(alive)
            seconds = time.perf_counter() - start
            result.steps.append(StepStats(step.name, count_in, count_out, seconds, details))
            debug(f"preprocess {step.name}: {count_in} → {count_out} in {seconds:.2f}s")
            advance(1)
    return result
