"""Scoring with the pool's embeddings computed alongside: one worker embeds the pool while this process
scores the views that never read embeddings (quality_heuristic, relevance_dsir); the views that do are
scored after, as usual.

Why: on two cores, every parallel step pays for its forks and for the memory pages each worker copies
when it first touches an example. The scoring pass of these views gains little from two workers, while
embedding does; run side by side, the two steps end sooner than one after the other, each over two
workers (docs/benchmarks.md, Scale / Session 6). Results are the same: views are scored independently,
and a text's static vector does not depend on its batch.
"""
from __future__ import annotations

from typing import Callable, Sequence

from sft_select.core.record import Example
from sft_select.models.embed.embedders import EmbeddingStore
from sft_select.views.base import View


def with_embeddings_ahead(views: Sequence[View], pool: Sequence[Example], executor,
                          score: Callable[[list[int]], list]) -> list:
    """`score(group)` gives the results of the views at positions `group`, in order. Called once for
    every view where embedding alongside does not apply; else for the views that never read embeddings
    while one worker embeds the pool, then for the others. Results in the order of `views`."""
    early = [i for i, v in enumerate(views) if not v.reads_embeddings and v.cpu_fast]
    later = [i for i in range(len(views)) if i not in early]
    models = {getattr(views[i], "model", None) for i in later if views[i].reads_embeddings}
    finish = None
    if (executor.shares_memory and early and len(models) == 1 and None not in models
            and len(pool) >= executor.pool.min_items):
        finish = EmbeddingStore.embed_ahead([ex.id for ex in pool], [ex.content for ex in pool], models.pop(),
                                            pool=executor.pool)
    if finish is None:
        return score(list(range(len(views))))
    out: list = [None] * len(views)
    try:
        with executor.serial():  # the other core is embedding
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
