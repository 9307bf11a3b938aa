"""Classifier proxy: logistic regression on sentence embeddings, trained on S, scored on validation.

Seconds per fit, so the tune loop can afford dozens of them; embeddings are memoized by example id
(`sft_select.embed`), so only the first fit pays for embedding. Label noise in S hurts it the way it
hurts a fine-tune (a flipped label pulls the boundary), which is what f(S) must see.
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from sft_select.balance import class_weights
from sft_select.embed import embed_examples
from sft_select.evaluate.metrics import classification_metrics
from sft_select.evaluate.proxy import ProxyScore
from sft_select.record import Example


class LogRegProxy:
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

    def fit_predict(self, train: Sequence[Example], test: Sequence[Example], seed: int = 0) -> list[str]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        labels = [ex.label for ex in train if ex.label is not None]
        train = [ex for ex in train if ex.label is not None]
        if not train:
            raise ValueError("the training subset holds no labelled example")
        classes = sorted(set(labels))
        if len(classes) == 1:  # nothing to learn: every prediction is the one class seen
            return [classes[0]] * len(test)
        weights = class_weights(labels) if self.class_weight == "balanced" else None
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=weights, random_state=seed)
        X = embed_examples(train, self.embedder)
        # One BLAS thread: lbfgs on a few hundred dimensions gains little from threads, and on a busy
        # machine spinning BLAS threads made a 3 s fit take 45 s (measured on 2 shared cores).
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # A capped lbfgs run is still a fair proxy; the warning would only repeat once per trial.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, np.asarray(labels, dtype=object))
        return clf.predict(embed_examples(test, self.embedder)).tolist()

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        start = time.perf_counter()
        pred = self.fit_predict(train, validation, seed)
        metrics = classification_metrics([ex.label for ex in validation], pred)
        return ProxyScore(metrics[self.metric], metrics, len(train), time.perf_counter() - start)
