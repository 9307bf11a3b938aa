"""Classifier proxy that answers with its training rows' own labels: k nearest neighbours on embeddings.

Why a third classifier proxy: the mlp proxy fits S, flipped labels included, as the fine-tune the user
will run does, so f(S) pays for the flips a linear proxy averages away; but it costs seconds to tens of
seconds a fit, and the loop runs dozens (a whole case-study loop took 16–22 minutes with it, against under
one minute with logistic regression). A nearest-neighbour vote has no fit at all: a flipped label in S
answers for its neighbourhood of the validation file exactly as a memorized one does. How well its f(S)
ranks candidate subsets like the final models' test accuracy, against the other proxies:
docs/benchmarks.md, "Proxy agreement" (bench/proxy_agreement.py).

scikit-learn's KNeighborsClassifier, brute force on cosine distance (the embeddings are not all unit
length): exact and deterministic; a vote tie goes to the lowest class label, as scikit-learn breaks it.
"""
from __future__ import annotations

import numpy as np

from sft_select.evaluate.proxy_classifier import EmbeddingClassifierProxy


class KNNProxy(EmbeddingClassifierProxy):
    name = "knn"

    def __init__(self, *, embedder: str = "static-minilm", metric: str = "accuracy", k: int = 5):
        self.embedder = embedder
        self.metric = metric
        self.k = k

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "embedder": self.embedder, "k": self.k}

    def _fit(self, X: np.ndarray, y: np.ndarray, seed: int):
        from sklearn.neighbors import KNeighborsClassifier

        # Fewer rows than k: every row votes (scikit-learn refuses k above the training size).
        clf = KNeighborsClassifier(n_neighbors=min(self.k, len(y)), metric="cosine", algorithm="brute")
        return clf.fit(X, y)
