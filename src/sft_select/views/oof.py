"""Out-of-fold class probabilities from a proxy classifier (logistic regression on embeddings).

Shared by the label-quality view (confident learning reads them) and the classification difficulty
view (loss and margin read them). Every example is scored by a model that never saw it, which is what
makes a flipped label stand out. Memoized per (ids, labels, model, folds, seed) within a process so two
views on one pool fit the folds once. Examples outside the fitted pool (scored later, or by another
worker) get the mean of the fold models' probabilities: no fold saw them, so they are out-of-sample
just the same, and no extra whole-pool fit is needed.

Memory is bounded (reliability issue #23: 10,000 classes on 20k rows peaked at 8.1 GB). The fit's peak
is about nine times the n × classes float64 probability matrix (scikit-learn's multinomial fit and
cleanlab each hold several n × classes and classes × classes arrays), so a label view is skipped, with
the reason, when the pool has more than `max_classes` classes (default 1,000) or that matrix would pass
`max_matrix_mb` (default 256 MB, a peak near 2.3 GB). A label with a single example cannot be
cross-validated (no fold could both learn it and test it, so it would always look like a label error):
those rows are left out of the fit and get no score, with that reason.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sft_select.cache import fingerprint, ids_fingerprint
from sft_select.embed import embed_examples
from sft_select.record import Example

@dataclass(frozen=True)
class FoldModel:
    """One fold's logistic regression as plain arrays (a fitted view pickles without scikit-learn objects)."""

    coef: np.ndarray  # (n_seen_classes, dim), or (1, dim) for two classes as scikit-learn stores it
    intercept: np.ndarray
    seen: np.ndarray  # the class indices this fold's model knows, in its column order

    def predict_proba(self, X: np.ndarray, n_classes: int) -> np.ndarray:
        logits = X @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:  # binary: one logit for the second class
            logits = np.hstack([np.zeros_like(logits), logits])
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out = np.zeros((len(X), n_classes))
        out[:, self.seen] = p / p.sum(axis=1, keepdims=True)
        return out


MAX_CLASSES = 1000
MAX_MATRIX_MB = 256.0


_MEMO: dict[str, tuple[np.ndarray, list[str], list[FoldModel]]] = {}


def _fit_folds(pool: Sequence[Example], model: str, folds: int, seed: int,
               C: float) -> tuple[np.ndarray, list[str], list[FoldModel]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([ex.label if ex.label is not None else "" for ex in pool])
    key = fingerprint(ids_fingerprint(ex.id for ex in pool), labels.tolist(), model, folds, seed, C)
    if key in _MEMO:
        return _MEMO[key]
    classes = sorted(set(labels.tolist()))
    probs = np.zeros((len(pool), len(classes)))
    if len(classes) < 2:
        probs[:, 0] = 1.0
        _MEMO[key] = (probs, classes, [])
        return _MEMO[key]
    X = embed_examples(pool, model).astype(np.float64)
    y = np.searchsorted(classes, labels)
    counts = np.bincount(y, minlength=len(classes))
    k = int(min(folds, max(2, counts[counts > 0].min())))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_models = []
    for train, test in splitter.split(X, y):
        clf = LogisticRegression(C=C, max_iter=1000)
        clf.fit(X[train], y[train])
        fm = FoldModel(clf.coef_.copy(), clf.intercept_.copy(), clf.classes_.copy())
        probs[test] = fm.predict_proba(X[test], len(classes))
        fold_models.append(fm)
    _MEMO[key] = (probs, classes, fold_models)
    return _MEMO[key]


def oof_probabilities(pool: Sequence[Example], *, model: str, folds: int = 5, seed: int = 0,
                      C: float = 1.0) -> tuple[np.ndarray, list[str]]:
    """Probabilities of shape (n, n_classes) and the class names (sorted) for a labelled pool."""
    probs, classes, _ = _fit_folds(pool, model, folds, seed, C)
    return probs, classes


def label_index(pool: Sequence[Example], classes: list[str]) -> np.ndarray:
    labels = [ex.label if ex.label is not None else "" for ex in pool]
    return np.searchsorted(classes, labels)


@dataclass
class ProxyFit:
    """What a label-aware view learns at fit time: OOF probabilities of the labelled pool by id, and the
    fold models, whose average scores examples outside the pool (none of them saw those either)."""

    classes: list[str]
    oof: dict[str, np.ndarray]  # pool id -> out-of-fold probabilities
    fold_models: list[FoldModel]
    model: str
    single: frozenset[str] = frozenset()  # labels with one example in the pool: left out, never scored

    @classmethod
    def fit(cls, pool: Sequence[Example], *, model: str, folds: int, seed: int, C: float) -> "ProxyFit":
        if folds < 2 or C <= 0:  # checked here once for every view that fits the proxy
            raise ValueError("folds must be >= 2 and C > 0")
        labelled = [ex for ex in pool if ex.label is not None]
        counts = Counter(ex.label for ex in labelled)
        single = frozenset(label for label, c in counts.items() if c < 2)
        checkable = [ex for ex in labelled if ex.label not in single]
        probs, classes, fold_models = _fit_folds(checkable, model, folds, seed, C)
        return cls(classes, {ex.id: p for ex, p in zip(checkable, probs)}, fold_models, model, single)

    def probabilities(self, batch: Sequence[Example]) -> np.ndarray:
        """(len(batch), n_classes): out-of-fold for pool members, the fold models' mean for the rest."""
        out = np.zeros((len(batch), len(self.classes)))
        unseen = [i for i, ex in enumerate(batch) if ex.id not in self.oof]
        for i, ex in enumerate(batch):
            if ex.id in self.oof:
                out[i] = self.oof[ex.id]
        if unseen:
            X = embed_examples([batch[i] for i in unseen], self.model).astype(np.float64)
            out[unseen] = np.mean([fm.predict_proba(X, len(self.classes)) for fm in self.fold_models], axis=0)
        return out

    def given(self, batch: Sequence[Example]) -> np.ndarray:
        """Index of each example's label among the classes; −1 for no label or one the pool never had."""
        pos = {c: i for i, c in enumerate(self.classes)}
        return np.array([pos.get(ex.label, -1) if ex.label is not None else -1 for ex in batch], dtype=np.int64)


def unscored_reason(label: str | None, fit: ProxyFit) -> str:
    """Why an example gets no score from a label-aware view (its `given` index is −1)."""
    if label is None:
        return "no label"
    if label in fit.single:
        return f"label '{label}' has only one example in the pool: it cannot be cross-validated"
    return f"label '{label}' does not occur in the pool"


def label_skip_reason(name: str, pool: Sequence[Example], *, max_classes: int = MAX_CLASSES,
                      max_matrix_mb: float = MAX_MATRIX_MB) -> str | None:
    """Why a label-aware view cannot run: it needs at least two classes with two examples each, and
    no more classes (or rows × classes) than the memory caps allow."""
    counts = Counter(str(ex.label) for ex in pool if ex.label is not None)
    if not counts:
        return f"{name} needs labelled data (text/label rows)"
    kept = {label: c for label, c in counts.items() if c >= 2}
    if len(kept) < 2:
        shown = dict(sorted(counts.items())[:5])
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        return f"{name} needs at least two labels with two examples each (found {shown}{more})"
    n, k = sum(kept.values()), len(kept)
    mb = n * k * 8 / 1e6
    if k > max_classes or mb > max_matrix_mb:
        return (f"{name} skipped to bound memory: {k:,} label classes with two or more examples over "
                f"{n:,} rows (the out-of-fold probabilities would take {mb:,.0f} MB, the fit about nine "
                f"times that); the limits are max_classes={max_classes:,} and max_matrix_mb={max_matrix_mb:g}. "
                "Group rare labels, or raise the limits in the view's parameters")
    return None
