"""Out-of-fold class probabilities from a proxy classifier (logistic regression on embeddings).

Shared by the label-quality view (confident learning reads them) and the classification difficulty
view (loss and margin read them). Every example is scored by a model that never saw it, which is what
makes a flipped label stand out. Memoized per (ids, labels, model, folds, seed) within a process so two
views on one pool fit the folds once.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.cache import fingerprint, ids_fingerprint
from sft_select.embed import embed_examples
from sft_select.record import Example

_MEMO: dict[str, tuple[np.ndarray, list[str]]] = {}


def oof_probabilities(pool: Sequence[Example], *, model: str, folds: int = 5, seed: int = 0,
                      C: float = 1.0) -> tuple[np.ndarray, list[str]]:
    """Probabilities of shape (n, n_classes) and the class names (sorted) for a labelled pool."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([ex.label if ex.label is not None else "" for ex in pool])
    key = fingerprint(ids_fingerprint(ex.id for ex in pool), model, folds, seed, C)
    if key in _MEMO:
        return _MEMO[key]
    classes = sorted(set(labels.tolist()))
    probs = np.zeros((len(pool), len(classes)))
    if len(classes) < 2:
        probs[:, 0] = 1.0
        _MEMO[key] = (probs, classes)
        return _MEMO[key]
    X = embed_examples(pool, model)
    y = np.searchsorted(classes, labels)
    counts = np.bincount(y, minlength=len(classes))
    k = int(min(folds, max(2, counts[counts > 0].min())))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, y):
        clf = LogisticRegression(C=C, max_iter=1000)
        clf.fit(X[train], y[train])
        probs[np.ix_(test, clf.classes_)] = clf.predict_proba(X[test])
    _MEMO[key] = (probs, classes)
    return probs, classes


def label_index(pool: Sequence[Example], classes: list[str]) -> np.ndarray:
    labels = [ex.label if ex.label is not None else "" for ex in pool]
    return np.searchsorted(classes, labels)
