"""relevance_dsir: DSIR importance weights, log p_target(x) − log p_pool(x), with hashed n-gram models.

Xie et al. (2023), "Data Selection for Language Models via Importance Resampling": each text is a bag of
hashed unigrams and bigrams; one multinomial over the hash buckets is fit on the target and one on the
pool, and an example's weight is how much likelier its n-grams are under the target model. Lexical, cheap
(no model, ~10k texts/s) and complementary to the embedding view, which matches meaning rather than words.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.record import Example
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register


def _vectorizer(buckets: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    # Raw counts (no sign flipping, no norm): the bucket counts are the multinomial's sufficient statistics.
    return HashingVectorizer(ngram_range=(1, 2), n_features=buckets, alternate_sign=False, norm=None,
                             lowercase=True, dtype=np.float64)


def _bucket_log_probs(counts, buckets: int, smoothing: float) -> np.ndarray:
    """Log-probabilities of the buckets, interpolated with the uniform distribution (weight `smoothing`).

    Both models use the same interpolation weight, so an n-gram neither has seen scores exactly 0. With
    add-one smoothing (the DSIR package's) every unseen n-gram would count against an example by
    log(N_pool / N_target), only because the target is the smaller sample.
    """
    totals = np.asarray(counts.sum(axis=0)).ravel()
    ml = totals / totals.sum() if totals.sum() > 0 else np.zeros(buckets)
    return np.log((1.0 - smoothing) * ml + smoothing / buckets)


@register
class RelevanceDSIR(View):
    name = "relevance_dsir"
    group = "relevance"
    version = "1"
    needs = frozenset({"target"})

    def __init__(self, *, buckets: int = 10_000, smoothing: float = 0.5, prior_ngrams: float = 5.0):
        """`buckets`: hash buckets for unigrams+bigrams; more separates rare n-grams, fewer smooths
        small targets. `smoothing`: weight of the uniform distribution mixed into both n-gram models
        (0 < λ < 1); larger damps the weight of n-grams seen only a few times. `prior_ngrams`: neutral
        n-grams added to every text's length, so a three-word text cannot outrank a paragraph on one
        lucky word."""
        self.buckets = buckets
        self.smoothing = smoothing
        self.prior_ngrams = prior_ngrams

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "RelevanceDSIR":
        if not target:
            raise ValueError("relevance_dsir needs a target set")
        if self.buckets < 2 or not 0 < self.smoothing < 1 or self.prior_ngrams < 0:
            raise ValueError("buckets must be >= 2, 0 < smoothing < 1 and prior_ngrams >= 0")
        vec = _vectorizer(self.buckets)
        target_counts = vec.transform([ex.content for ex in target])
        pool_counts = vec.transform([ex.content for ex in pool])
        self.log_ratio_ = (_bucket_log_probs(target_counts, self.buckets, self.smoothing)
                           - _bucket_log_probs(pool_counts, self.buckets, self.smoothing))
        self.bucket_names_ = self._name_buckets(target)
        return self

    def _name_buckets(self, target: Sequence[Example]) -> dict[int, str]:
        """A readable n-gram for each bucket the target uses, only for reasons (hashing is one-way).
        One pass over the target's vocabulary at fit time; scoring never loops over n-grams."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.utils import murmurhash3_32

        try:
            cv = CountVectorizer(ngram_range=(1, 2), lowercase=True).fit([ex.content for ex in target])
        except ValueError:  # the target has no word at all
            return {}
        names = cv.get_feature_names_out()
        freq = np.asarray(cv.transform([ex.content for ex in target]).sum(axis=0)).ravel()
        out: dict[int, str] = {}
        for i in np.argsort(-freq, kind="stable"):  # the most frequent n-gram names a shared bucket
            out.setdefault(abs(murmurhash3_32(str(names[i]), seed=0)) % self.buckets, str(names[i]))
        return out

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        counts = _vectorizer(self.buckets).transform([ex.content for ex in batch]).tocsr()
        total = np.asarray(counts.sum(axis=1)).ravel()
        log_weight = counts @ self.log_ratio_  # DSIR's log importance weight: Σ_ngrams log(p_t / p_pool)
        # Length normalization: the DSIR sum grows with the number of n-grams, so raw sums would rank
        # long texts at both extremes whatever their topic. Dividing by the n-gram count (plus a prior of
        # neutral n-grams) gives the mean log-ratio per n-gram, i.e. the log of the geometric-mean
        # likelihood ratio, comparable between a one-line answer and an essay.
        denom = total + self.prior_ngrams
        raw = np.divide(log_weight, denom, out=np.zeros_like(log_weight), where=denom > 0)
        contrib = counts.multiply(self.log_ratio_[None, :]).tocsr()
        reasons: list[str | None] = []
        for i in range(len(batch)):
            lo, hi = contrib.indptr[i], contrib.indptr[i + 1]
            if hi == lo:
                reasons.append("no words to compare with the target")
                continue
            j = lo + int(np.argmax(contrib.data[lo:hi]))
            bucket = int(contrib.indices[j])
            gram = self.bucket_names_.get(bucket, f"bucket {bucket}")
            reasons.append(f"{raw[i]:+.2f} log-ratio/n-gram over {int(total[i])}; most target-like: "
                           f"'{gram}' ({self.log_ratio_[bucket]:+.1f})")
        return ViewResult(raw, reasons)
