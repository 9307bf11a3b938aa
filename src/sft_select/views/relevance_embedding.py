"""relevance_embedding: mean of the top-k cosine similarities to the target examples."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.models.embed.embedders import DEFAULT_MODEL, embed_examples
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register


@register
class RelevanceEmbedding(View):
    name = "relevance_embedding"
    group = "relevance"
    version = "1"
    needs = frozenset({"target"})

    def __init__(self, *, k: int = 5, model: str = DEFAULT_MODEL):
        """`k`: how many nearest target examples to average; k=1 rewards any one close match, a larger
        k rewards examples close to the bulk of the target."""
        self.k = k
        self.model = model

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "RelevanceEmbedding":
        if not target:
            raise ValueError("relevance_embedding needs a target set")
        self.target_ = embed_examples(target, self.model).astype(np.float64)
        self.k_ = max(1, min(self.k, len(target)))
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        # einsum's own loop, not BLAS: a BLAS product's rounding depends on the batch's size (blocking),
        # so equal examples in different batches could differ in the last bit and swap rank ties
        sims = np.einsum("ij,kj->ik", embed_examples(batch, self.model).astype(np.float64), self.target_)
        top = -np.sort(-sims, axis=1)[:, : self.k_]
        best = sims.argmax(axis=1)
        reasons = [f"closest target #{int(b)} (cos {sims[i, b]:.2f})" for i, b in enumerate(best)]
        return ViewResult(top.mean(axis=1), reasons)
