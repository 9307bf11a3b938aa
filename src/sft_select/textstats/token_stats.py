"""Word-token statistics of a whole batch of ASCII texts at once, equal to `signals`' per-text ones.

`signals.repetition_tokens` splits one text into Python bytes objects and the n-gram statistics build a
tuple per n-gram, a Python object per token and per n-gram for every row. Here
Arrow splits the batch's texts and numbers its distinct tokens (C++), an n-gram becomes one uint64 (the
numbers of its tokens and its text packed side by side: exact, no hashing), and the counts are numpy
over the batch. (The filters bound the repeated-bigram share on their own: preprocess/filter_batch.py.)
Only ASCII texts go this way; `ascii_rows` says which, and callers keep the per-text code for the rest.
tests/textstats/test_token_stats.py checks every statistic against the per-text one.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from sft_select.textstats.signals import _WORD_BYTES


class Tokens(NamedTuple):
    codes: np.ndarray  # uint64: each token's number within the batch (equal tokens, equal numbers)
    rows: np.ndarray  # int64: the text each token is from (texts' tokens in order, text after text)
    lengths: np.ndarray  # int64: each token's characters
    counts: np.ndarray  # int64: tokens of each text
    bits: int  # bits a token number needs


def ascii_rows(texts: Sequence[str]) -> np.ndarray:
    """Positions of the ASCII texts (str.isascii is a flag lookup)."""
    return np.fromiter((i for i, t in enumerate(texts) if t.isascii()), dtype=np.int64)


KEY_BITS = 64  # an n-gram key is one uint64
# Texts counted together: their temporaries (~50 tokens a row, 8 bytes each) stay under glibc's 128 KB
# mmap threshold, so they are reused from the heap instead of mapped and faulted in afresh every time
# (at 1024 texts a chunk they did not, and each text paid about one page fault).
CHUNK = 256


def batch_tokens(texts: Sequence[str]) -> Tokens:
    """The tokens of `signals.repetition_tokens(t)` for each of `texts`, which must all be ASCII:
    non-word bytes become spaces, letters are lowercased, and the runs between spaces are the tokens."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # stripped, so Arrow's split (which keeps an empty token at a leading or trailing space) gives
    # exactly bytes.split()'s tokens; an empty text still yields one empty token, dropped below
    words = [t.encode("ascii").translate(_WORD_BYTES).lower().strip() for t in texts]
    lists = pc.ascii_split_whitespace(pa.array(words, pa.binary()).cast(pa.string()))
    flat = lists.flatten()
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(lists.offsets.to_numpy()))
    lengths = pc.binary_length(flat).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(flat)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.uint64)
    real = lengths > 0
    if not real.all():
        codes, rows, lengths = codes[real], rows[real], lengths[real]
    bits = max(1, (len(encoded.dictionary) - 1).bit_length())
    return Tokens(codes, rows, lengths, np.bincount(rows, minlength=len(texts)), bits)


def _ngram_keys(tok: Tokens, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each n-gram inside one text as one uint64 (its text, then its tokens' numbers) and the position
    of its first token; None when they do not fit in KEY_BITS (the caller halves the batch)."""
    row_bits = max(1, int(tok.counts.size).bit_length())
    if n * tok.bits + row_bits > KEY_BITS:
        return None
    m = len(tok.codes) - n + 1
    if m <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    first = np.flatnonzero(tok.rows[:m] == tok.rows[n - 1:])  # all n tokens from the same text
    keys = tok.rows[first].astype(np.uint64) << np.uint64(n * tok.bits)
    for k in range(n):
        keys |= tok.codes[first + k] << np.uint64((n - 1 - k) * tok.bits)
    return keys, first


def _by_halves(fn, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
    """`fn` over each half of `texts`, its arrays joined: a batch with too many distinct tokens for one
    key is halved until it fits (one text of <= 20k characters always does)."""
    half = len(texts) // 2
    return tuple(np.concatenate(pair) for pair in zip(fn(texts[:half]), fn(texts[half:])))


def _in_chunks(fn, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
    """`fn` over consecutive CHUNK-long slices of `texts`, its arrays joined."""
    if len(texts) <= CHUNK:
        return fn(texts)
    parts = [fn(texts[s:s + CHUNK]) for s in range(0, len(texts), CHUNK)]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def duplicate_ngram_ratios(texts: Sequence[str], n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each ASCII text, its number of tokens and
    `signals.duplicate_ngram_ratio(signals.repetition_tokens(t), n)`."""
    return _in_chunks(lambda part: _duplicate_ngram_ratios(part, n), texts)


def _duplicate_ngram_ratios(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    tok = batch_tokens(texts)
    found = _ngram_keys(tok, n)
    if found is None:
        return _by_halves(lambda part: _duplicate_ngram_ratios(part, n), texts)
    keys = found[0]
    distinct = np.bincount((pd.unique(keys) >> np.uint64(n * tok.bits)).astype(np.int64), minlength=len(texts))
    total = tok.counts - n + 1
    out = np.zeros(len(texts))
    long = tok.counts >= n + 1
    out[long] = (total[long] - distinct[long]) / total[long]
    return tok.counts, out
