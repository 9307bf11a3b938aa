"""Run the preprocessing steps in order; each reports counts in and out and its time for the manifest.

Filters drop examples with a named reason. Dedup steps link duplicates into clusters; which member
stays is decided after scoring (`clusters.resolve`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.exact import link_exact
from sft_select.record import Example


@dataclass
class StepStats:
    step: str
    count_in: int
    count_out: int
    seconds: float

    def as_dict(self) -> dict:
        return {"step": self.step, "in": self.count_in, "out": self.count_out, "seconds": round(self.seconds, 4)}


@dataclass
class PreprocessResult:
    drops: dict[int, str]  # pool position -> reason
    clusters: DuplicateClusters
    steps: list[StepStats] = field(default_factory=list)


def run_preprocess(examples: Sequence[Example], cfg: PreprocessConfig,
                   target: Sequence[Example] | None = None) -> PreprocessResult:
    result = PreprocessResult(drops={}, clusters=DuplicateClusters(len(examples)))
    alive = list(range(len(examples)))

    if cfg.exact_dedup:
        start = time.perf_counter()
        link_exact(examples, result.clusters, alive)
        roots = {result.clusters.find(i) for i in alive}
        result.steps.append(StepStats("exact_dedup", len(alive), len(roots), time.perf_counter() - start))
    return result
