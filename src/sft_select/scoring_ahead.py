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
from typing import Callable, NamedTuple, Sequence

from sft_select import parallel
from sft_select.embed import EmbeddingStore
from sft_select.record import Example
from sft_select.views.base import View, ViewResult


class Started(NamedTuple):
    """An embedding begun by `embed_early`: its model and the call that finishes it (see embed_ahead)."""

    spec: str
    finish: Callable[[], None]

    def cancel(self) -> None:
        self.finish.cancel()  # type: ignore[attr-defined]


def score_views_ahead(views: Sequence[View], pool: Sequence[Example], target: Sequence[Example] | None, executor,
                      checkpoints: Sequence[Path | None], started: Started | None = None
                      ) -> list[tuple[ViewResult, float]]:
    """`scoring.score_views`, with the pool's embeddings computed alongside where that applies
    (`started`: an embedding begun before, by `embed_early`)."""
    from sft_select.scoring import score_views

    return with_embeddings_ahead(views, pool, executor, lambda group: score_views(
        [views[i] for i in group], pool, target, executor, checkpoints=[checkpoints[i] for i in group]),
        started=started)


def _split(views: Sequence[View]) -> tuple[list[int], list[int]]:
    early = [i for i, v in enumerate(views) if not v.reads_embeddings and v.cpu_fast]
    return early, [i for i in range(len(views)) if i not in early]


def _ahead_model(views: Sequence[View], n: int, executor) -> str | None:
    """The embedding model to compute alongside the text-only views, or None where that does not apply:
    another engine, no text-only view, views on several models, or a pool too small for workers."""
    early, later = _split(views)
    models = {getattr(views[i], "model", None) for i in later if views[i].reads_embeddings}
    if (getattr(executor, "name", "local") != "local" or not early or len(models) != 1 or None in models
            or n < parallel.min_items()):
        return None
    return models.pop()


def embed_early(views: Sequence[View], examples: Sequence[Example], executor) -> Started | None:
    """Start embedding every example read in one worker, before preprocessing, where scoring would embed
    the pool alongside anyway: the worker then also runs through preprocessing's serial stretches (at
    100k, ~1.5 s in this process between the parallel steps, one core idle), and scoring finds most of
    the vectors done. It embeds the rows dedup drops too (~4% more work at 100k). None where it does not
    apply; pass the result to `score_all`, or `.cancel()` it."""
    spec = _ahead_model(views, len(examples), executor)
    if spec is None:
        return None
    finish = EmbeddingStore.embed_ahead([ex.id for ex in examples], [ex.content for ex in examples], spec)
    return Started(spec, finish) if finish is not None else None


def with_embeddings_ahead(views: Sequence[View], pool: Sequence[Example], executor,
                          score: Callable[[list[int]], list], started: Started | None = None) -> list:
    """`score(group)` gives the results of the views at positions `group`, in order. Called once for
    every view where embedding alongside does not apply; else for the views that never read embeddings
    while one worker embeds the pool, then for the others. Results in the order of `views`.
    `started`: an embedding of (a superset of) the pool begun earlier (`embed_early`), used in place of
    a new one; cancelled where embedding alongside no longer applies (e.g. the views were cached)."""
    early, later = _split(views)
    spec = _ahead_model(views, len(pool), executor)
    finish = None
    if started is not None:
        if started.spec == spec:
            finish = started.finish
        else:
            started.cancel()
    if finish is None and spec is not None:
        finish = EmbeddingStore.embed_ahead([ex.id for ex in pool], [ex.content for ex in pool], spec)
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
