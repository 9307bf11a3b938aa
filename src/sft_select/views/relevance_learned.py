"""relevance_learned: log-odds of a classifier trained to tell the target examples from the pool.

Positive-unlabelled learning: the target rows are the positives and a seeded sample of the pool is
treated as negative, although some of it is on target (that is what we are looking for). A logistic
regression on the static embedding of each example (the vectors the run already stores for the other
views) learns which directions of meaning set the target apart from the pool; its log-odds rank every
pool row. Unlike relevance_embedding's nearest-target similarity it also learns what the pool is, so a
direction the target shares with most of the pool (format, language) counts for little.

A default view when a target is given, beside relevance_embedding and relevance_dsir (each counts once
in the combination): its cost is bounded. The fit sees the target plus at most `negatives` pool rows,
whatever the pool's size, and scoring is one dot product per row with the stored embedding. Words are
relevance_dsir's part of the relevance group; `word_weight` > 0 adds a TF-IDF block of hashed word
unigrams and bigrams to this classifier too, which needs a hashing pass over every row (several times
the cost of the rest).

Two options keep the on-target pool rows from being taught down; both are off by default because on
the shared data (bench/relevance_bench.py) they moved precision@k by about ±0.02 at several times the fit:

- cross-fitting: the negatives are split into `folds`; a pool row that was a negative is scored by the
  model that did not see it (keyed by example id, like `oof`); every other row by the folds' mean;
- a second round (`drop` > 0) refits without the share `drop` of negatives the first round found
  most target-like (they are probably positives).

Tried on the tuning seed and left out (docs/benchmarks.md): self-training (refitting with the few
hundred top-ranked pool rows as extra positives, 1-4 rounds) gained a little on one data set and lost on
the other; label propagation over the embeddings' kNN graph lost on both; spy and bagging PU moved
precision by 0.03 or less, mostly down.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.models.embed.embedders import DEFAULT_MODEL, embed_examples
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

_NGRAM_FEATURES = 1 << 18


def _hashed_ngrams(texts: Sequence[str]):
    """Sublinear term counts of hashed word unigrams and bigrams (CSR, one row per text)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    counts = HashingVectorizer(n_features=_NGRAM_FEATURES, ngram_range=(1, 2), alternate_sign=False,
                               norm=None, dtype=np.float64).transform(texts)
    np.log1p(counts.data, out=counts.data)
    return counts


@register
class RelevanceLearned(View):
    name = "relevance_learned"
    group = "relevance"
    version = "2"  # 2: embeddings only by default (word_weight 0), 2,000 negatives, C 0.3
    needs = frozenset({"target"})

    def __init__(self, *, model: str = DEFAULT_MODEL, negatives: int = 2000, folds: int = 1, drop: float = 0.0,
                 C: float = 0.3, embedding_weight: float = 1.0, word_weight: float = 0.0, seed: int = 0):
        """`negatives`: pool rows sampled as the unlabelled class (more: a steadier picture of the pool,
        slower fit; the fit's cost does not grow with the pool). `folds`: cross-fitting splits of those
        rows (1: none; an on-target negative is then scored by the model that learned it as off-target).
        `drop`: share of negatives the first round scores most target-like, left out of the second (0: one
        round). `C`: inverse regularization; larger fits the few target examples more closely (on the
        shared data 0.3 beat 1 and 10). `embedding_weight` and `word_weight`: scales of the embedding
        block and of the (unit-length) TF-IDF block of hashed word n-grams; 0 leaves a block out, and
        words cost a hashing pass over every scored row."""
        self.model = model
        self.negatives = negatives
        self.folds = folds
        self.drop = drop
        self.C = C
        self.embedding_weight = embedding_weight
        self.word_weight = word_weight
        self.seed = seed

    # -- features --------------------------------------------------------------------------------------
    def _features(self, batch: Sequence[Example], counts=None):
        """Unit-length TF-IDF of the hashed n-grams (IDF of the fit sample) scaled by `word_weight`, or None
        when words are off; and the scaled embedding, or None when it is off."""
        from scipy import sparse

        words = emb = None
        if self.word_weight > 0:
            words = (_hashed_ngrams([ex.content for ex in batch]) if counts is None else counts).multiply(self.idf_)
            norms = np.sqrt(np.asarray(words.multiply(words).sum(axis=1)).ravel())
            words = (sparse.diags(self.word_weight / np.maximum(norms, 1e-12)) @ words).tocsr()
        if self.embedding_weight > 0:
            emb = embed_examples(batch, self.model).astype(np.float64)
            if self.embedding_weight != 1:
                emb *= self.embedding_weight
        return words, emb

    def _fit_one(self, words, emb, y: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, float]:
        if words is None:
            coef, intercept = _balanced_logistic(emb, y, self.C)
            return None, coef, intercept
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        # Only the buckets the rows use: an unused one would get weight 0 anyway (no data, L2 penalty),
        # and L-BFGS's cost grows with the dimension (2^18 columns cost ~2x the fit time of the used ones).
        used = np.unique(words.indices)
        blocks = [words[:, used]] + ([sparse.csr_matrix(emb)] if emb is not None else [])
        clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000).fit(
            sparse.hstack(blocks, format="csr"), y)
        coef_words = np.zeros(_NGRAM_FEATURES)
        coef_words[used] = clf.coef_[0, :len(used)]
        coef_emb = clf.coef_[0, len(used):].copy() if emb is not None else None
        return coef_words, coef_emb, float(clf.intercept_[0])

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "RelevanceLearned":
        if not target:
            raise ValueError("relevance_learned needs a target set")
        if (self.negatives < 2 or self.folds < 1 or not 0 <= self.drop < 1 or self.C <= 0
                or min(self.embedding_weight, self.word_weight) < 0
                or max(self.embedding_weight, self.word_weight) <= 0):
            raise ValueError("negatives must be >= 2, folds >= 1, 0 <= drop < 1, C > 0, embedding_weight and "
                             "word_weight >= 0 with one of them > 0")
        target_ids = {ex.id for ex in target}
        candidates = [i for i, ex in enumerate(pool) if ex.id not in target_ids]
        rng = np.random.default_rng(self.seed)
        take = np.sort(rng.choice(len(candidates), min(self.negatives, len(candidates)), replace=False))
        negs = [pool[candidates[i]] for i in take]
        rows = list(target) + negs
        counts = None
        if self.word_weight > 0:
            counts = _hashed_ngrams([ex.content for ex in rows])
            df = np.bincount(counts.indices, minlength=_NGRAM_FEATURES)
            self.idf_ = np.log((1.0 + len(rows)) / (1.0 + df)) + 1.0  # scikit-learn's smoothed IDF
        words, emb = self._features(rows, counts)
        n_pos = len(target)
        k = max(1, min(self.folds, len(negs)))
        fold_of = rng.permutation(len(negs)) % k
        models = self._fit_folds(words, emb, n_pos, fold_of, k, keep=np.ones(len(negs), dtype=bool))
        if self.drop > 0:
            first = self._oof(_rows(words, n_pos), _rows(emb, n_pos), fold_of, models)
            keep = first < np.quantile(first, 1.0 - self.drop)
            models = self._fit_folds(words, emb, n_pos, fold_of, k, keep=keep)
        self.models_ = models
        self.fold_by_id_ = {ex.id: int(f) for ex, f in zip(negs, fold_of)} if k > 1 else {}
        return self

    def _fit_folds(self, words, emb, n_pos, fold_of, k, keep):
        models = []
        for f in range(k):
            use = np.r_[np.ones(n_pos, dtype=bool), keep & ((fold_of != f) if k > 1 else True)]
            y = np.r_[np.ones(n_pos), np.zeros(len(fold_of))][use]
            models.append(self._fit_one(_rows(words, use), _rows(emb, use), y))
        return models

    def _parts(self, words, emb, n: int) -> np.ndarray:
        """(k, 2, n): each model's word part (with its intercept) and meaning part of the log-odds.
        csr @ vector is a row-by-row loop and einsum has no BLAS blocking: a row's value does not depend
        on the batch it came in."""
        return np.stack([[(words @ cw if words is not None else np.zeros(n)) + b,
                          np.einsum("ij,j->i", emb, ce) if emb is not None else np.zeros(n)]
                         for cw, ce, b in self.models_])

    def _oof(self, words, emb, fold_of, models) -> np.ndarray:
        all_logits = self._parts(words, emb, len(fold_of)).sum(axis=1).T  # (n, k)
        if len(models) == 1:
            return all_logits[:, 0]
        return all_logits[np.arange(len(fold_of)), fold_of]

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        words, emb = self._features(batch)
        if words is None and not self.fold_by_id_:  # the default: one model, meaning only
            (_, coef, intercept), = self.models_
            raw = np.einsum("ij,j->i", emb, coef) + intercept
            return ViewResult(raw, [f"log-odds {r:+.2f} (meaning)" for r in raw.tolist()])
        parts = self._parts(words, emb, len(batch))  # (k, 2, n)
        if self.fold_by_id_:
            fold = np.array([self.fold_by_id_.get(ex.id, -1) for ex in batch], dtype=np.int64)
            own = parts[np.maximum(fold, 0), :, np.arange(len(batch))]  # (n, 2)
            chosen = np.where(fold[:, None] >= 0, own, parts.mean(axis=0).T)
        else:
            chosen = parts[0].T
        raw = chosen.sum(axis=1)
        reasons = [f"log-odds {r:+.2f} (words {w:+.2f}, meaning {m:+.2f})"
                   for r, w, m in zip(raw.tolist(), chosen[:, 0].tolist(), chosen[:, 1].tolist())]
        return ViewResult(raw, reasons)


def _rows(block, which):
    """Rows of a feature block (None stays None): a boolean mask, or every row from an index on."""
    if block is None:
        return None
    return block[which:] if isinstance(which, int) else block[which]


def _balanced_logistic(X: np.ndarray, y: np.ndarray, C: float, max_iter: int = 100) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of scikit-learn's LogisticRegression(C, class_weight="balanced") on a
    dense X, by Newton's method: with a few hundred columns each step is one small solve, and a run that
    scores with embeddings only does not import scikit-learn (its import takes longer than the fit).
    Minimizes ½‖w‖² + C Σ sᵢ log(1 + exp(−ŷᵢ(xᵢ·w + b))) with class weights sᵢ = n / (2 nᵧ); b is not
    penalized. The objective is strictly convex, so Newton steps (halved if one does not lower it) converge."""
    n, d = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])
    weight = C * np.where(y == 1, n / (2.0 * max(y.sum(), 1)), n / (2.0 * max(n - y.sum(), 1)))
    penalty = np.r_[np.ones(d), 0.0]
    sign = 2.0 * y - 1.0

    def objective(w):
        return 0.5 * np.dot(penalty * w, w) + np.dot(weight, np.logaddexp(0.0, -sign * (Xb @ w)))

    w = np.zeros(d + 1)
    value = objective(w)
    for _ in range(max_iter):
        p = 0.5 * (1.0 + np.tanh(0.5 * (Xb @ w)))  # the logistic function, without overflow
        grad = Xb.T @ (weight * (p - y)) + penalty * w
        hess = (Xb.T * (weight * p * (1.0 - p))) @ Xb + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while objective(w - t * step) > value and t > 1e-6:
            t *= 0.5
        w = w - t * step
        value = objective(w)
        if np.abs(t * step).max() < 1e-9:
            break
    return w[:d], float(w[d])
