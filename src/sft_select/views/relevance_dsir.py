"""relevance_dsir: DSIR importance weights, log p_target(x) − log p_pool(x), with hashed n-gram models.

Xie et al. (2023), "Data Selection for Language Models via Importance Resampling": each text is a bag of
hashed unigrams and bigrams; one multinomial over the hash buckets is fit on the target and one on the
pool, and an example's weight is how much likelier its n-grams are under the target model. Lexical, cheap
(no model, ~35k texts/s per pass on one core) and complementary to the embedding view, which matches
meaning rather than words.
"""
from __future__ import annotations

from functools import partial
from itertools import chain, compress
from typing import Sequence

import numpy as np
import xxhash

from sft_select.core.record import Example
from sft_select.executors import pool as parallel
from sft_select.preprocess.shingles import _GOLDEN, mix64, words_of
from sft_select.preprocess.word_memo import recall_words
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

_FIT_CHUNK = 8192  # texts per featurization chunk in fit: bounds the per-token temporaries


# Hashes of the 256 one-byte tokens, and a 16-bit prefilter: one gather flags the few candidates that are
# then checked exactly (a numpy test of every token instead of `len` called per token).
_ONE_BYTE = np.sort(np.fromiter((xxhash.xxh3_64_intdigest(bytes([b])) for b in range(256)), np.uint64, 256))
_ONE_BYTE_LOW = np.zeros(1 << 16, dtype=bool)
_ONE_BYTE_LOW[(_ONE_BYTE & np.uint64(0xFFFF)).astype(np.int64)] = True


def _tokens(texts: Sequence[str], *, with_tokens: bool = False) -> tuple[list[bytes] | None, np.ndarray, np.ndarray]:
    """The xxh3 hash of every kept token of every text (in order), the index of its text, and (only
    `with_tokens`, for naming buckets) the tokens themselves.

    Tokens are those of near dedup (`shingles.words_of`: lowercased runs of letters and digits, one per
    CJK character), minus one-byte tokens ('a', 'I', 'x'), as sklearn's default pattern dropped one-letter
    words. Python runs once per text (split in C) and once per token only inside `map` (xxh3)."""
    known = None if with_tokens else recall_words(texts)  # near dedup hashed these words already
    if known is not None:
        per_text, counts, words = None, known.counts, known.hashes
        n = len(words)
    else:
        per_text = [words_of(t) for t in texts]
        counts = np.fromiter(map(len, per_text), np.int64, len(per_text))
        n = int(counts.sum())
        words = np.fromiter(map(xxhash.xxh3_64_intdigest, chain.from_iterable(per_text)), np.uint64, n)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    maybe = np.flatnonzero(_ONE_BYTE_LOW[(words & np.uint64(0xFFFF)).astype(np.int64)])
    if len(maybe):
        i = np.minimum(np.searchsorted(_ONE_BYTE, words[maybe]), len(_ONE_BYTE) - 1)
        drop = maybe[_ONE_BYTE[i] == words[maybe]]
        keep = np.ones(n, dtype=bool)
        keep[drop] = False
        words, doc = words[keep], doc[keep]
    else:
        keep = None
    flat = None
    if with_tokens:
        flat = list(chain.from_iterable(per_text))
        if keep is not None:
            flat = list(compress(flat, keep.tolist()))
    return flat, words, doc


def _ngram_hashes(words: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """64-bit hashes of the unigrams then the bigrams (mixed with numpy: no Python frame per n-gram, which
    sklearn's analyzer had), the text of each (sorted within each of the two runs), the position of each
    bigram's first token, and where the bigrams start."""
    first = np.flatnonzero(doc[:-1] == doc[1:])  # bigrams never span two texts
    hashes = np.concatenate([mix64(words), mix64(words[first] * _GOLDEN + words[first + 1])])
    return hashes, np.concatenate([doc, doc[first]]), first, len(words)


def _buckets(hashes: np.ndarray, buckets: int) -> np.ndarray:
    return (hashes % np.uint64(buckets)).astype(np.int64)


def _bucket_totals(texts: Sequence[str], buckets: int) -> np.ndarray:
    """Summed bucket counts over all texts, chunk by chunk (no matrix is built: fit needs only totals);
    over the run's worker processes when there are several (whole counts: any order sums the same)."""
    parts = parallel.map_parts(partial(_bucket_totals, buckets=buckets), texts, multiple=_FIT_CHUNK)
    if parts is not None:
        return np.sum(parts, axis=0)
    totals = np.zeros(buckets, dtype=np.float64)
    for i in range(0, len(texts), _FIT_CHUNK):
        _, words, doc = _tokens(texts[i:i + _FIT_CHUNK])
        totals += np.bincount(_buckets(_ngram_hashes(words, doc)[0], buckets), minlength=buckets)
    return totals


def _bucket_log_probs(totals: np.ndarray, buckets: int, smoothing: float) -> np.ndarray:
    """Log-probabilities of the buckets, interpolated with the uniform distribution (weight `smoothing`).

    Both models use the same interpolation weight, so an n-gram neither has seen scores exactly 0. With
    add-one smoothing (the DSIR package's) every unseen n-gram would count against an example by
    log(N_pool / N_target), only because the target is the smaller sample.
    """
    ml = totals / totals.sum() if totals.sum() > 0 else np.zeros(buckets)
    return np.log((1.0 - smoothing) * ml + smoothing / buckets)


@register
class RelevanceDSIR(View):
    name = "relevance_dsir"
    reads_embeddings = False  # text statistics only (views/base.py)
    group = "relevance"
    version = "2"  # 2: own vectorized n-gram hashing (xxh3 + splitmix) instead of sklearn's murmurhash
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
        target_totals = _bucket_totals([ex.content for ex in target], self.buckets)
        pool_totals = _bucket_totals([ex.content for ex in pool], self.buckets)
        self.log_ratio_ = (_bucket_log_probs(target_totals, self.buckets, self.smoothing)
                           - _bucket_log_probs(pool_totals, self.buckets, self.smoothing))
        self.bucket_names_ = self._name_buckets(target)
        return self

    def _name_buckets(self, target: Sequence[Example]) -> dict[int, str]:
        """A readable n-gram for each bucket the target uses, only for reasons (hashing is one-way).
        One pass over the target's distinct n-grams at fit time; scoring never loops over n-grams."""
        flat, words, doc = _tokens([ex.content for ex in target], with_tokens=True)
        hashes, _, first, _ = _ngram_hashes(words, doc)
        if not len(hashes):
            return {}
        uniq, at, freq = np.unique(hashes, return_index=True, return_counts=True)

        def name(i: int) -> str:
            gram = flat[i] if i < len(words) else flat[first[i - len(words)]] + b" " + flat[first[i - len(words)] + 1]
            return gram.decode("utf-8", "replace")

        names = [name(int(i)) for i in at]
        out: dict[int, str] = {}
        # The most frequent n-gram names a shared bucket (ties: the alphabetically first).
        for j in sorted(range(len(uniq)), key=lambda j: (-freq[j], names[j])):
            out.setdefault(int(uniq[j] % np.uint64(self.buckets)), names[j])
        return out

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        n = len(batch)
        _, words, doc = _tokens([ex.content for ex in batch])
        hashes, rows, _, n_uni = _ngram_hashes(words, doc)
        cols = _buckets(hashes, self.buckets)
        lr = self.log_ratio_[cols]
        total = np.bincount(rows, minlength=n).astype(np.float64)
        # DSIR's log importance weight: Σ log(p_t / p_pool)
        log_weight = np.bincount(rows, weights=lr, minlength=n).astype(np.float64)
        # Length normalization: the DSIR sum grows with the number of n-grams, so raw sums would rank
        # long texts at both extremes whatever their topic. Dividing by the n-gram count (plus a prior of
        # neutral n-grams) gives the mean log-ratio per n-gram, i.e. the log of the geometric-mean
        # likelihood ratio, comparable between a one-line answer and an essay.
        denom = total + self.prior_ngrams
        raw = np.divide(log_weight, denom, out=np.zeros_like(log_weight), where=denom > 0)
        # The reason names the text's n-gram with the highest log-ratio (the first such unigram, else bigram).
        best = np.full(n, -1, dtype=np.int64)
        for lo, hi in ((n_uni, len(lr)), (0, n_uni)) if len(lr) else ():  # unigrams last: they win ties
            at = _run_argmax(lr[lo:hi], rows[lo:hi], n)
            has = at >= 0
            better = has & ((best < 0) | (lr[np.maximum(at + lo, 0)] >= lr[np.maximum(best, 0)]))
            best[better] = at[better] + lo
        reasons: list[str | None] = []
        for i, j in enumerate(best.tolist()):
            if j < 0:
                reasons.append("no words to compare with the target")
                continue
            bucket = int(cols[j])
            gram = self.bucket_names_.get(bucket, f"bucket {bucket}")
            reasons.append(f"{raw[i]:+.2f} log-ratio/n-gram over {int(total[i])}; most target-like: "
                           f"'{gram}' ({self.log_ratio_[bucket]:+.1f})")
        return ViewResult(raw, reasons)


def _run_argmax(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Position (into `values`) of the first largest value of each row, -1 for a row with none; `rows`
    is sorted, so each row is one run and `maximum.reduceat` finds every maximum without a loop."""
    best = np.full(n, -1, dtype=np.int64)
    if not len(values):
        return best
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    row_max = np.maximum.reduceat(values, starts)
    hits = np.flatnonzero(values == np.repeat(row_max, np.diff(np.r_[starts, len(values)])))
    hit_rows, first = np.unique(rows[hits], return_index=True)
    best[hit_rows] = hits[first]
    return best
