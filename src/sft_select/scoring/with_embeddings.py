"""Scoring with the pool's embeddings computed alongside: one worker embeds the pool while this process
scores the views that never read embeddings (quality_heuristic, relevance_dsir); the views that do are
scored after, as usual.

Why: on two cores, every parallel step pays for its forks and for the memory pages each worker copies
when it first touches an example. The scoring pass gains nothing from its two workers at 100k (5.13 s in
one process, 5.20 s over two: docs/benchmarks.md, Scale / Session 6), while embedding does. Run side by
side, a one-worker embedding and a one-process scoring of those views finished together in 5.0–5.3 s,
against 6.2–7.4 s for the two steps one after the other, each over two workers. Results are the same:
views are scored independently, and a text's static vector does not depend on its batch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from sft_select.executors import pool as parallel
from sft_select.models.embed.embedders import EmbeddingStore
from sft_select.core.record import Example
from sft_select.views.base import View, ViewResult


def score_views_ahead(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None, executor,
                      checkpoints: Sequence[Path | None]) -> list[tuple[ViewResult, float]]:
    """`scoring.score_views`, with the pool's embeddings computed alongside where that applies."""
    from sft_select.scoring.driver import score_views

    return with_embeddings_ahead(views, pool, executor, lambda group: score_views(
        [views[i] for i in group], pool, target, executor, checkpoints=[checkpoints[i] for i in group]))


def with_embeddings_ahead(views: Sequence[View], pool: Sequence[Example], executor,
                          score: Callable[[list[int]], list]) -> list:
    """`score(group)` gives the results of the views at positions `group`, in order. Called once for
    every view where embedding alongside does not apply; else for the views that never read embeddings
    while one worker embeds the pool, then for the others. Results in the order of `views`."""
    early = [i for i, v in enumerate(views) if not v.reads_embeddings and v.cpu_fast]
    later = [i for i in range(len(views)) if i not in early]
    models = {getattr(views[i], "model", None) for i in later if views[i].reads_embeddings}
    finish = None
    if (getattr(executor, "name", "local") == "local" and early and len(models) == 1 and None not in models
            and len(pool) >= parallel.min_items()):
        finish = EmbeddingStore.embed_ahead([ex.id for ex in pool], [ex.content for ex in pool], models.pop())
    if finish is None:
        return score(list(range(len(views))))
    out: list = [None] * len(views)
    try:
        with parallel.workers(1):  # the other core is embedding
            scored = score(early)
        finish()
    except BaseException:
        finish.cancel()  # type: ignore[attr-defined]
        raise
    for i, result in zip(early, scored):
        out[i] = result
    if later:
        for i, result in zip(later, score(later)):
            out[i] = result
    return out
