"""Run the preprocessing steps in order; each reports counts in and out and its time for the manifest.

  filters → decontaminate → exact_dedup → near_dedup → semantic_dedup

Filters and decontamination drop examples with a named reason; a dropped example is not seen by any
later step (nor scored). Dedup steps only link duplicates into clusters; which member stays is decided
after scoring (`clusters.resolve`). Near and semantic dedup compare one member per exact-duplicate
cluster: identical contents add nothing but work.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.exact import link_exact
from sft_select.preprocess.fields import field_text
from sft_select.core.progress import debug
from sft_select.core.record import Example


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
    """`decontaminate` adds evaluation files to `cfg.decontaminate.files`; `embedder` is the run's
    embedding model, used by semantic dedup unless its section names another. `executor` (default:
    local) runs the global steps of exact and near dedup (grouping equal hashes, LSH band buckets).
    `known_filters`: filter reasons already computed while the input was read (`filter_job`);
    `known_keys`: every example's exact-dedup key, likewise (`exact.key_job`)."""
    result = PreprocessResult(drops={}, clusters=DuplicateClusters(len(examples)))
    alive = list(range(len(examples)))

    def record(step: str, count_in: int, count_out: int, start: float, **details: Any) -> None:
        result.steps.append(StepStats(step, count_in, count_out, time.perf_counter() - start, details))
        debug(f"preprocess {step}: {count_in} → {count_out} in {time.perf_counter() - start:.2f}s")

    if cfg.filters.enabled:
        from sft_select.preprocess.filters import apply_filters, reason_counts

        start = time.perf_counter()
        drops = apply_filters(examples, alive, cfg.filters, known=known_filters)
        result.drops.update(drops)
        before, alive = len(alive), [p for p in alive if p not in drops]
        record("filters", before, len(alive), start, dropped=reason_counts(drops))

    files = [Path(f) for f in (*cfg.decontaminate.files, *decontaminate)]
    if files:
        from sft_select.preprocess.decontam import decontaminate as run_decontam

        start = time.perf_counter()
        reasons, stats = run_decontam([examples[p].content for p in alive], files, cfg.decontaminate)
        dropped = {p: r for p, r in zip(alive, reasons) if r}
        result.drops.update(dropped)
        before, alive = len(alive), [p for p in alive if p not in dropped]
        record("decontaminate", before, len(alive), start, ngram=cfg.decontaminate.ngram, **stats)

    distinct = alive
    if cfg.exact_dedup:
        start = time.perf_counter()
        link_exact(examples, result.clusters, alive, executor, known=known_keys)
        distinct = [p for p in alive if result.clusters.find(p) == p]
        record("exact_dedup", len(alive), len(distinct), start)

    if cfg.near.enabled and len(distinct) > 1:
        from sft_select.preprocess.near import link_near

        start = time.perf_counter()
        texts = [field_text(examples[p], cfg.near.field) for p in distinct]
        near = link_near(texts, distinct, result.clusters, cfg.near, executor)
        roots = len({result.clusters.find(p) for p in alive})
        record("near_dedup", len(alive), roots, start, threshold=cfg.near.threshold, ngram=cfg.near.ngram,
               num_perm=cfg.near.num_perm, **near.stats())

    if cfg.semantic.enabled and len(distinct) > 1:
        from sft_select.preprocess.semantic import link_semantic

        start = time.perf_counter()
        sem = link_semantic(examples, distinct, result.clusters, cfg.semantic, embedder)
        roots = len({result.clusters.find(p) for p in alive})
        record("semantic_dedup", len(alive), roots, start, threshold=cfg.semantic.threshold,
               model=cfg.semantic.model or embedder, **sem.stats())
    return result
