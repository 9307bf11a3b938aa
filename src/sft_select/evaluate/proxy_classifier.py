"""Classifier proxy: logistic regression on sentence embeddings, trained on S, scored on validation.

Seconds per fit, so the tune loop can afford dozens of them; embeddings are memoized by example id
(`sft_select.models.embed.embedders`), so only the first fit pays for embedding. Label noise in S hurts it the way it
hurts a fine-tune (a flipped label pulls the boundary), which is what f(S) must see.
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from sft_select.core.record import Example
from sft_select.evaluate.base import ProxyScore
from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.metrics import classification_metrics
from sft_select.models.embed.embedders import embed_examples
from sft_select.selection.logreg import fit_logreg


class EmbeddingClassifierProxy:
    """What the classifiers on sentence embeddings share: labelled rows only, the one-class shortcut, one
    BLAS thread, the metrics. A subclass fits its model in `_fit` (and may add metrics)."""

    name = "embedding classifier"
    embedder: str
    metric: str

    def _fit(self, X: np.ndarray, y: np.ndarray, seed: int):
        raise NotImplementedError

    def _one_class(self) -> None:
        """Called instead of `_fit` when S holds a single class."""

    def _extra_metrics(self) -> dict:
        return {}

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int = 0):
        """The fitted scikit-learn model on given features (one BLAS thread, convergence warnings muted), for
        callers that need more than predictions: the `active` selection strategy reads its probabilities."""
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit(X, y, seed)

    def fit_predict(self, train: Sequence[Example], test: Sequence[Example], seed: int = 0) -> list[str]:
        from sklearn.exceptions import ConvergenceWarning

        train = [ex for ex in train if ex.label is not None]
        if not train:
            raise ValueError("the training subset holds no labelled example")
        y = np.asarray([ex.label for ex in train], dtype=object)
        classes = sorted(set(y.tolist()))
        if len(classes) == 1:  # nothing to learn: every prediction is the one class seen
            self._one_class()
            return [classes[0]] * len(test)
        X = embed_examples(train, self.embedder)
        # One BLAS thread: deterministic sums, and on a busy machine spinning BLAS threads made a short
        # logistic regression many times slower.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # A capped solver run is still a fair proxy; the warning would only repeat once per trial.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = self._fit(X, y, seed)
            return clf.predict(embed_examples(test, self.embedder)).tolist()

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        start = time.perf_counter()
        pred = self.fit_predict(train, validation, seed)
        metrics = classification_metrics([ex.label for ex in validation], pred)
        metrics.update(self._extra_metrics())
        correct = np.array([p == ex.label for p, ex in zip(pred, validation)], dtype=np.float64)
        return ProxyScore(metrics[self.metric], metrics, len(train), time.perf_counter() - start,
                          per_row=correct if self.metric == "accuracy" else None)


class LogRegProxy(EmbeddingClassifierProxy):
    name = "logreg"

    def __init__(self, *, embedder: str = "static-minilm", metric: str = "accuracy",
                 class_weight: str | None = None, C: float = 1.0, max_iter: int = 1000):
        self.embedder = embedder
        self.metric = metric
        self.class_weight = class_weight
        self.C = C
        self.max_iter = max_iter

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "embedder": self.embedder,
                "class_weight": self.class_weight, "C": self.C}

    def _fit(self, X: np.ndarray, y: np.ndarray, seed: int):
        return fit_logreg(X, y, C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, seed=seed)


def from_config(cfg: EvaluateConfig, embedder: str) -> LogRegProxy:
    c = cfg.classifier
    return LogRegProxy(embedder=embedder, metric=c.metric, class_weight=c.class_weight, C=c.logreg.C)
