"""quality_label: how likely each example's label is right, by confident learning (cleanlab).

Out-of-fold probabilities from the proxy classifier (views/oof.py) go to cleanlab: a per-example label
quality score (`cleanlab.rank.get_label_quality_scores`, the raw value, higher = more trustworthy) and a
flag for likely label errors (`cleanlab.filter.find_label_issues`, the `quality_label_issue` column and
the reason). Northcutt et al. (2021) found 82 such errors in the 20 Newsgroups test set this way.

The proxy reads the static embeddings by default (`features="embedding"`); `features="both"` adds TF-IDF of
the pool's words, the two out-of-fold probabilities mixed with the weight that fits the given labels best
(views/oof.py). `both` ranks the human-confirmed errors far better (below), but it flags fewer rows, and the
default labelled selection (selection/auto.py: stratified, flagged rows out) lost with it on the held-out
4-topic pool of bench/default_command.py (20news4-noisy, 20% human-like noise, 3 seeds: 13.9% noise left in S
against 11.6%, the mlp eval model 0.7960 against 0.8221; level for the linear ones), so the embedding
flags stay the default until the selection gains from `both`. On the human-confirmed label errors
(bench/label_noise_bench.py, 2026-12-07) the mixture
chose TF-IDF alone on 20news and IMDB: AUROC of the errors against all other rows 0.973 / 0.959, against
0.823 / 0.860 with the embeddings (cleanlab on a TfidfVectorizer proxy: 0.944 / 0.960), and it flags
fewer rows (125 of 7,532 on 20news, not 1,132), so recall among the flags is lower (0.54, not 0.63).
The embeddings get weight where they see what words miss (tests/views/test_label_views.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.core.errors import MissingDependency
from sft_select.core.record import Example
from sft_select.models.embed.embedders import DEFAULT_MODEL
from sft_select.views.base import View, ViewResult
from sft_select.views.oof import FEATURES, MAX_CLASSES, MAX_MATRIX_MB, ProxyFit, label_skip_reason, unscored_reason
from sft_select.views.registry import register

METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")


def _cleanlab():
    try:
        import cleanlab.filter
        import cleanlab.rank
    except ImportError:
        raise MissingDependency("cleanlab", "the quality_label view") from None
    return cleanlab


@register
class QualityLabel(View):
    name = "quality_label"
    group = "quality"
    version = "3"  # 3: features (embedding | tfidf | both); 2: one-example labels left out of the fit
    needs = frozenset({"labels"})

    def __init__(self, *, method: str = "self_confidence", filter_by: str = "prune_by_noise_rate",
                 folds: int = 5, C: float = 1.0, seed: int = 0, model: str = DEFAULT_MODEL,
                 features: str = "embedding", C_tfidf: float = 10.0,
                 max_classes: int = MAX_CLASSES, max_matrix_mb: float = MAX_MATRIX_MB):
        """`method`: cleanlab's label-quality score (self_confidence = p(given label); normalized_margin
        also weighs the strongest rival). `filter_by`: cleanlab's rule for flagging an error;
        prune_by_noise_rate flags as many as the estimated noise rate per class, confident_learning
        every confident disagreement (more recall, less precision). `features`: what the proxy reads:
        "embedding" (the `model` embeddings, logistic regression with `C`), "tfidf" (hashed words,
        `C_tfidf`: sparse TF-IDF rows need weaker regularization) or "both" (the two mixed; about twice the
        fit time, and much better on topic labels, where words beat a static embedding). `max_classes`,
        `max_matrix_mb`: the memory caps above which the view is skipped with the reason; they also bound
        the TF-IDF width (see views/oof.py)."""
        self.method = method
        self.filter_by = filter_by
        self.folds = folds
        self.C = C
        self.seed = seed
        self.model = model
        self.features = features
        self.C_tfidf = C_tfidf
        self.max_classes = max_classes
        self.max_matrix_mb = max_matrix_mb

    def skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        return label_skip_reason(self.name, pool, max_classes=self.max_classes,
                                 max_matrix_mb=self.max_matrix_mb)

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "QualityLabel":
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if self.filter_by not in FILTERS:
            raise ValueError(f"filter_by must be one of {FILTERS}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}")
        cl = _cleanlab()
        self.proxy_ = ProxyFit.fit(pool, model=self.model, folds=self.folds, seed=self.seed, C=self.C,
                                   features=self.features, C_tfidf=self.C_tfidf,
                                   max_matrix_mb=self.max_matrix_mb)
        labelled = [ex for ex in pool if ex.id in self.proxy_.oof]  # one-example labels are left out
        probs = np.stack([self.proxy_.oof[ex.id] for ex in labelled])
        given = self.proxy_.given(labelled)
        issues = cl.filter.find_label_issues(given, probs, filter_by=self.filter_by, n_jobs=1)
        self.issue_ids_ = frozenset(ex.id for ex, bad in zip(labelled, issues) if bad)
        # Confident-learning thresholds: the mean probability of class j among examples labelled j.
        # Examples outside the pool are flagged with them (cleanlab's "confident_learning" rule), since
        # the noise-rate pruning is defined over the whole pool only.
        k = len(self.proxy_.classes)
        self.thresholds_ = np.array([probs[given == j, j].mean() if (given == j).any() else 1.0 for j in range(k)])
        return self

    def _unseen_issue(self, p: np.ndarray, g: int) -> bool:
        confident = np.flatnonzero(p >= self.thresholds_)
        if confident.size == 0:
            return False
        return int(confident[np.argmax(p[confident])]) != g

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        cl = _cleanlab()
        probs = self.proxy_.probabilities(batch)
        given = self.proxy_.given(batch)
        ok = given >= 0
        raw = np.full(len(batch), np.nan)
        if ok.any():
            raw[ok] = cl.rank.get_label_quality_scores(given[ok], probs[ok], method=self.method)
        issue = np.zeros(len(batch), dtype=bool)
        classes = self.proxy_.classes
        reasons: list[str | None] = []
        for i, ex in enumerate(batch):
            g = int(given[i])
            if g < 0:
                reasons.append(unscored_reason(ex.label, self.proxy_))
                continue
            issue[i] = ex.id in self.issue_ids_ if ex.id in self.proxy_.oof else self._unseen_issue(probs[i], g)
            best = int(np.argmax(probs[i]))
            if issue[i]:
                reasons.append(f"likely label error: given '{classes[g]}', proxy says '{classes[best]}' "
                               f"(p={probs[i, best]:.2f})")
            else:
                reasons.append(f"label quality {raw[i]:.2f} (given '{classes[g]}')")
        return ViewResult(raw, reasons, extra={"issue": issue})
