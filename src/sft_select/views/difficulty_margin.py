"""difficulty_margin: how hard a labelled example is for a proxy classifier that never saw it.

Dataset-cartography style (Swayamdipta et al., 2020) with out-of-fold predictions instead of training
dynamics: a logistic regression on embeddings, fit on the other folds, gives the probability of the
example's own label. The raw value is the cross-entropy loss of that label (higher = harder); the reason
adds the margin p(given) − max p(other), negative when the proxy prefers another class. The hardest
examples are informative, but the very hardest are often mislabelled: pair this view with quality_label,
which flags those.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.models.embed.embedders import DEFAULT_MODEL
from sft_select.views.base import View, ViewResult
from sft_select.views.oof import MAX_CLASSES, MAX_MATRIX_MB, ProxyFit, label_skip_reason, unscored_reason
from sft_select.views.registry import register

_EPS = 1e-12  # probabilities are clipped so a confident miss costs a large, finite loss


@register
class DifficultyMargin(View):
    name = "difficulty_margin"
    group = "difficulty"
    version = "2"  # 2: one-example labels are left out of the fit (were always flagged)
    higher_is_better = True  # harder examples teach more; quality_label guards against mislabelled ones
    needs = frozenset({"labels"})
    # Never a default: on labelled data it is quality_label's signal with the opposite sign (Spearman -1.00;
    # their normalized values sum to 1 on every row), so at equal weights the two cancel. Name it to use it.
    default_data = frozenset()

    def __init__(self, *, folds: int = 5, C: float = 1.0, seed: int = 0, model: str = DEFAULT_MODEL,
                 max_classes: int = MAX_CLASSES, max_matrix_mb: float = MAX_MATRIX_MB):
        """`folds`: out-of-fold splits (more: each proxy sees more data, costs more fits). `C`: inverse
        regularization of the proxy; a weaker proxy (small C) calls more examples hard."""
        self.folds = folds
        self.C = C
        self.seed = seed
        self.model = model
        self.max_classes = max_classes
        self.max_matrix_mb = max_matrix_mb

    def skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        return label_skip_reason(self.name, pool, max_classes=self.max_classes,
                                 max_matrix_mb=self.max_matrix_mb)

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "DifficultyMargin":
        self.proxy_ = ProxyFit.fit(pool, model=self.model, folds=self.folds, seed=self.seed, C=self.C)
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        probs = self.proxy_.probabilities(batch)
        given = self.proxy_.given(batch)
        raw = np.full(len(batch), np.nan)
        margin = np.full(len(batch), np.nan)
        reasons: list[str | None] = []
        classes = self.proxy_.classes
        for i, g in enumerate(given.tolist()):
            if g < 0:
                reasons.append(unscored_reason(batch[i].label, self.proxy_))
                continue
            p = probs[i]
            other = np.delete(p, g)
            raw[i] = -np.log(max(p[g], _EPS))
            margin[i] = p[g] - other.max()
            rival = classes[int(np.argmax(np.where(np.arange(len(p)) == g, -1.0, p)))]
            reasons.append(f"p(given)={p[g]:.2f}, margin {margin[i]:+.2f} vs '{rival}'")
        return ViewResult(raw, reasons, extra={"margin": margin})
