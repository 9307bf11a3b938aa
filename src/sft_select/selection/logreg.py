"""Logistic regression on given features, fitted the one way both its users need it.

The `active` strategy refits it on S to order the candidates; the classifier proxy (evaluate/) fits it to
measure f(S). It lives here, below both, so selection does not reach up into evaluate.
"""
from __future__ import annotations

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from sft_select.selection.balance import class_weights


def fit_logreg(X: np.ndarray, y: np.ndarray, *, C: float = 1.0, class_weight: str | None = None,
               max_iter: int = 1000, seed: int = 0):
    """The fitted scikit-learn model. One BLAS thread: deterministic sums, and on a busy machine spinning BLAS
    threads made a short fit many times slower. A capped solver run is still a fair fit, so the convergence
    warning (which would repeat once per refit) is muted."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    weights = class_weights(y.tolist()) if class_weight == "balanced" else None
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=C, max_iter=max_iter, class_weight=weights, random_state=seed)
        return clf.fit(X, y)
