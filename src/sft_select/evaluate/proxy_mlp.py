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

from contextlib import contextmanager

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.proxy_classifier import EmbeddingClassifierProxy


@contextmanager
def flush_denormals():
    """Denormal floats flushed to zero on this thread (x86 FTZ/DAZ) while the network trains.

    Why: once the network fits S, the softmax probabilities of the wrong classes fall below float32's
    smallest normal number (~1e-38), and every product with them takes the CPU's slow path, so the late
    epochs cost many times the early ones. Flushed, the fit is several times faster and its predictions on
    the case study's validation rows were identical (figures: docs/benchmarks.md, "Proxy agreement").
    The flag belongs to the thread, so it is set only around the fit and cleared after.
    """
    import torch

    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:
            torch.set_flush_denormal(False)


class MLPProxy(EmbeddingClassifierProxy):
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

    def _fit(self, X: np.ndarray, y: np.ndarray, seed: int):
        from sklearn.neural_network import MLPClassifier

        # tol=0 and n_iter_no_change=epochs: every epoch runs; no early stop on the training loss either,
        # so the fit is as long for every S and only S's content differs (max_iter reached is the design).
        clf = MLPClassifier((self.hidden,), alpha=self.alpha, batch_size=min(self.batch_size, len(y)),
                            learning_rate_init=self.lr, max_iter=self.epochs, tol=0.0,
                            n_iter_no_change=self.epochs, early_stopping=False, random_state=seed)
        with flush_denormals():
            clf.fit(X, y)
        self.last_train_accuracy = float((clf.predict(X) == y).mean())
        return clf

    def _one_class(self) -> None:
        self.last_train_accuracy = 1.0

    def _extra_metrics(self) -> dict:
        return {"train_accuracy": self.last_train_accuracy}


def from_config(cfg: EvaluateConfig, embedder: str) -> MLPProxy:
    c = cfg.classifier
    if c.class_weight is not None:
        raise ConfigError("evaluate.classifier.class_weight: model mlp does not weigh classes (use logreg)")
    return MLPProxy(embedder=embedder, metric=c.metric, hidden=c.mlp.hidden, alpha=c.mlp.alpha, epochs=c.mlp.epochs)
