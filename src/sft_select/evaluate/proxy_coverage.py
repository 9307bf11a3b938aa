"""Coverage proxy: how well S covers the validation set in embedding space, with no model trained.

f(S) = mean over validation rows v of the mean of the k highest cosine similarities between v and the
rows of S (k = 1: v's nearest neighbour in S). What is embedded is `field`: each row's prompt (the
instruction, so f(S) rewards S for asking what the validation set asks), its response, or the whole
content (prompt + response). Embeddings come from the run's embedder and are memoized by id
(`sft_select.models.embed.embedders`), so after the first call an evaluation is one matrix product: milliseconds to a
second, on CPU, for any |S|. Deterministic: one BLAS thread, no sampling, ties cannot change a maximum.

Why it exists: at CPU scale the LoRA LM proxy (`proxy_lm`) cannot tell subsets of instruction data apart
(its −loss moves less between subsets than between seeds). Coverage is what a small fine-tune on S can
at best learn about the validation set's tasks; it says nothing about how *good* S's answers are beyond
their resemblance to the validation answers (`field: full` or `response`), so pair it with a quality
view. bench/instruction_proxies.py measures how each variant ranks subsets against an external judge
(docs/selection.md, "Which proxy for instruction data").

Coverage never decreases when rows are added to S: compare subsets of equal size with it (the tune loop
does, at |S| = N; its τ sweep will favour the largest S).
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from sft_select.core.record import Example
from sft_select.evaluate.base import ProxyScore
from sft_select.evaluate.config import EvaluateConfig

FIELDS = ("prompt", "response", "full")
_BLOCK = 4096  # rows of S per similarity block: a validation x 4096 float32 matrix at a time


def embed_rows(examples: Sequence[Example], field: str, embedder: str) -> np.ndarray:
    """L2-normalized embeddings of each example's prompt, response or whole content (`full`)."""
    from sft_select.preprocess.semantic import embed_field

    return embed_field(examples, "content" if field == "full" else field, embedder)


def coverage(val: np.ndarray, sub: np.ndarray, k: int = 1) -> np.ndarray:
    """Per validation row: the mean of its k highest cosine similarities to the rows of `sub` (all of them
    when `sub` has fewer than k). Rows must be L2-normalized."""
    k = max(1, min(k, len(sub)))
    best = np.full((len(val), k), -np.inf, dtype=np.float32)
    with threadpool_limits(limits=1):  # deterministic sums, and no spinning threads on a shared machine
        for start in range(0, len(sub), _BLOCK):
            sims = val @ sub[start:start + _BLOCK].T
            both = np.concatenate([best, sims], axis=1)
            if both.shape[1] > k:
                both = -np.partition(-both, k - 1, axis=1)[:, :k]
            best = both
    return best.mean(axis=1)


class CoverageProxy:
    name = "coverage"
    metric = "coverage"

    def __init__(self, *, embedder: str = "static-minilm", field: str = "full", k: int = 5):
        if field not in FIELDS:
            raise ValueError(f"field: expected one of {FIELDS}, got {field!r}")
        if k < 1:
            raise ValueError(f"k: expected >= 1, got {k}")
        self.embedder = embedder
        self.field = field
        self.k = k

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "embedder": self.embedder, "field": self.field,
                "k": self.k}

    def per_row(self, train: Sequence[Example], validation: Sequence[Example]) -> np.ndarray:
        """Each validation row's coverage by `train` (the mean of its k best similarities)."""
        if not train:
            raise ValueError("the training subset is empty")
        val = embed_rows(validation, self.field, self.embedder)
        sub = embed_rows(train, self.field, self.embedder)
        return coverage(np.asarray(val, dtype=np.float32), np.asarray(sub, dtype=np.float32), self.k)

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        """f(S); `seed` is accepted for the protocol and unused: nothing here is random."""
        start = time.perf_counter()
        if not validation:
            raise ValueError("the validation set is empty")
        rows = self.per_row(train, validation)
        value = float(rows.mean())
        metrics = {"coverage": value, "coverage_p10": float(np.percentile(rows, 10)),
                   "coverage_min": float(rows.min())}
        return ProxyScore(value, metrics, len(train), time.perf_counter() - start, per_row=np.asarray(rows, float))


def from_config(cfg: EvaluateConfig, embedder: str) -> CoverageProxy:
    return CoverageProxy(embedder=embedder, field=cfg.coverage.field, k=cfg.coverage.k)
