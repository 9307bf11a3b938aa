"""Classifier proxy that fits its training set: a one-hidden-layer network on sentence embeddings.

The logistic-regression proxy is regularized and linear, so it averages uniform label flips away: on
20news with 20% of the labels flipped, the tune loop saw almost no difference between a subset that
kept the flips and one that trimmed them, while the final model (anything that memorizes its training
set, as fine-tuning does) lost 3 points to them (docs/benchmarks.md, "Selection case study", run 3).
This proxy is trained like that final model: a fixed number of epochs, no early stopping, no validation
split carved out of S, so it fits S — flipped labels included — and f(S) drops when S holds them.

scikit-learn's MLPClassifier (Adam, mini-batches): already a dependency, seeded and deterministic on
one BLAS thread, and the same model as the case study's `mlp` eval model. Seconds per fit on a few
thousand rows (measured in docs/benchmarks.md), so the loop's few dozen fits stay affordable.
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from sft_select.embed import embed_examples
from sft_select.evaluate.metrics import classification_metrics
from sft_select.evaluate.proxy import ProxyScore
from sft_select.record import Example


class MLPProxy:
    name = "mlp"

    def __init__(self, *, embedder: str = "static-minilm", metric: str = "accuracy", hidden: int = 256,
                 alpha: float = 0.01, epochs: int = 200, batch_size: int = 200, lr: float = 1e-3):
        self.embedder = embedder
        self.metric = metric
        self.hidden = hidden
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.last_train_accuracy: float | None = None  # how far the last fit memorized S (flips included)

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "embedder": self.embedder, "hidden": self.hidden,
                "alpha": self.alpha, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}

    def fit_predict(self, train: Sequence[Example], test: Sequence[Example], seed: int = 0) -> list[str]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        train = [ex for ex in train if ex.label is not None]
        if not train:
            raise ValueError("the training subset holds no labelled example")
        y = np.asarray([ex.label for ex in train], dtype=object)
        classes = sorted(set(y.tolist()))
        if len(classes) == 1:  # nothing to learn: every prediction is the one class seen
            self.last_train_accuracy = 1.0
            return [classes[0]] * len(test)
        # tol=0 and n_iter_no_change=epochs: every epoch runs; no early stop on the training loss either,
        # so the fit is as long for every S and only S's content differs.
        clf = MLPClassifier((self.hidden,), alpha=self.alpha, batch_size=min(self.batch_size, len(train)),
                            learning_rate_init=self.lr, max_iter=self.epochs, tol=0.0,
                            n_iter_no_change=self.epochs, early_stopping=False, random_state=seed)
        X = embed_examples(train, self.embedder)
        # One BLAS thread: deterministic sums, and on 2 shared cores extra threads only spin.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached is the design
            clf.fit(X, y)
            self.last_train_accuracy = float((clf.predict(X) == y).mean())
            return clf.predict(embed_examples(test, self.embedder)).tolist()

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore:
        start = time.perf_counter()
        pred = self.fit_predict(train, validation, seed)
        metrics = classification_metrics([ex.label for ex in validation], pred)
        metrics["train_accuracy"] = self.last_train_accuracy
        return ProxyScore(metrics[self.metric], metrics, len(train), time.perf_counter() - start)
