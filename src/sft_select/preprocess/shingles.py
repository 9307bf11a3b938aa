"""Word n-gram shingles hashed to uint64 for a whole corpus, with no Python loop per word or n-gram.

Near dedup and decontamination both compare word n-grams. Building n-gram strings in Python costs about
a microsecond per n-gram (minutes on a large pool), so Python runs once per document (normalizing and
splitting in C: `bytes.translate`, `bytes.split`), words are hashed by xxh3 through `map` (C calls, no
Python frame per word), and n-gram hashes are mixed from word hashes by shifted numpy array arithmetic.
A byte-level numpy tokenizer was tried first and was ~6x slower: it makes ten int64 passes per byte.

Tokens are runs of letters, digits and combining marks after NFKC and case folding; punctuation, symbols
and emoji separate tokens; each character of a script written without spaces (Chinese, Japanese, Thai,
Khmer, ...) is a token of its own.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np
import xxhash

from sft_select.core.normalize import ASCII_CONTROLS, normalize_for_dedup
from sft_select.executors import pool as parallel
from sft_select.preprocess.word_memo import Words, remember_words

# Scripts written without spaces between words: one token per character.
_NO_SPACE_SCRIPTS = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
                     "\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f")
_SPLIT_CHARS = re.compile(f"[{_NO_SPACE_SCRIPTS}]")

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=1)
def _separators() -> re.Pattern:
    """Everything that is not a letter, digit, underscore or combining mark (built once, lazily: it walks
    all of Unicode)."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("M")]
    ranges, start, prev = [], marks[0], marks[0]
    for c in marks[1:] + [-1]:
        if c != prev + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}" if prev > start else re.escape(chr(start)))
            start = c
        prev = c
    return re.compile(r"[^\w" + "".join(ranges) + "]+")


def token_text(text: str) -> str:
    """The text as its tokens separated by single spaces (the form every shingle is hashed from)."""
    text = normalize_for_dedup(text)
    text = _SPLIT_CHARS.sub(r" \g<0> ", text)
    return " ".join(_separators().sub(" ", text).split())


# ASCII text needs no Unicode normalization: punctuation becomes a space and controls are deleted by
# one `bytes.translate`, which is ~20x faster than the regexes of `token_text` and gives the same tokens.
_ASCII_SEPARATORS = bytes(b if (chr(b).isalnum() or chr(b) == "_" or b >= 128) else 32 for b in range(256))
_CHUNK_WORDS = 50_000  # words per batch: bounds the memory of per-word byte strings and temporaries. Not more:
# a batch's objects and arrays are freed back to the OS and the next batch faults fresh pages in (larger
# batches cost a new worker more page faults and CPU time)


def words_of(text: str) -> list[bytes]:
    """The tokens of `text` as UTF-8 byte strings (the same as `token_text(text).split()`)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_SEPARATORS, ASCII_CONTROLS).lower().split()
    return token_text(text).encode("utf-8", "surrogatepass").split()


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijective scramble of uint64 values (vectorized, wraps mod 2**64)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


@dataclass
class Shingles:
    """Shingle hashes of many documents: document i owns `hashes[offsets[i]:offsets[i + 1]]`."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # uint64, length n_docs + 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets.astype(np.int64))

    def doc(self, i: int) -> np.ndarray:
        return self.hashes[int(self.offsets[i]):int(self.offsets[i + 1])]

    def unique_sorted(self, i: int) -> np.ndarray:
        return np.unique(self.doc(i))

    def subset(self, rows: np.ndarray) -> "Shingles":
        """The shingles of `rows` only, in that order (one gather, no loop)."""
        starts = self.offsets[:-1].astype(np.int64)[rows]
        counts = self.counts[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], counts)
        return Shingles(self.hashes[np.repeat(starts, counts) + within], offsets.astype(np.uint64))


def _ngrams(words: np.ndarray, doc_of_word: np.ndarray, n_docs: int, n: int,
            short: str) -> tuple[np.ndarray, np.ndarray]:
    """n-gram hashes in document order; per document count. `short="whole"` gives a document with fewer
    than n words one shingle of all its words; `short="skip"` gives it none."""
    n_words = len(words)
    value = np.zeros(n_words, dtype=np.uint64)
    valid = np.zeros(n_words, dtype=bool)
    if n_words >= n:
        m = n_words - n + 1
        acc = words[:m].copy()
        for k in range(1, n):
            acc = mix64(acc * _GOLDEN + words[k:k + m])
        ok = doc_of_word[:m] == doc_of_word[n - 1:n - 1 + m]
        value[:m], valid[:m] = acc, ok
    if short == "whole" and n_words:
        per_doc = np.bincount(doc_of_word, minlength=n_docs)
        short_word = per_doc[doc_of_word] < n
        if short_word.any():
            idx = np.flatnonzero(short_word)
            doc_start = np.searchsorted(doc_of_word, doc_of_word[idx])  # first word of each word's document
            pos = (idx - doc_start).astype(np.uint64)
            mixed = mix64(words[idx] + pos * _M1)
            heads = np.flatnonzero(np.r_[True, doc_of_word[idx][1:] != doc_of_word[idx][:-1]])
            tail = per_doc[doc_of_word[idx[heads]]].astype(np.uint64)
            value[idx[heads]] = mix64(np.add.reduceat(mixed, heads) ^ tail)
            valid[idx[heads]] = True
    keep = np.flatnonzero(valid)
    return value[keep], np.bincount(doc_of_word[keep], minlength=n_docs)


def _batches(texts: Sequence[str]) -> Iterator[Words]:
    """Word hashes of consecutive runs of whole texts, ~`_CHUNK_WORDS` words per run."""
    counts: list[int] = []
    batch: list[bytes] = []
    for text in texts:
        toks = words_of(text)
        counts.append(len(toks))
        batch.extend(toks)
        if len(batch) >= _CHUNK_WORDS:
            yield Words(np.fromiter(map(xxhash.xxh3_64_intdigest, batch), np.uint64, len(batch)),
                        np.asarray(counts, dtype=np.int64))
            counts, batch = [], []
    if counts or not texts:
        yield Words(np.fromiter(map(xxhash.xxh3_64_intdigest, batch), np.uint64, len(batch)),
                    np.asarray(counts, dtype=np.int64))


def word_hashes(texts: Sequence[str]) -> Words:
    """xxh3 hashes of every token of every text (kept whole: for shingling one corpus at several n)."""
    parts = list(_batches(texts))
    return Words(np.concatenate([p.hashes for p in parts]), np.concatenate([p.counts for p in parts]))


def ngrams(words: Words, n: int, *, short: str = "whole") -> Shingles:
    """Word n-gram hashes of every text (see `_ngrams` for texts shorter than n words)."""
    if n < 1:
        raise ValueError("n-gram size must be at least 1")
    n_docs = len(words.counts)
    doc_of_word = np.repeat(np.arange(n_docs, dtype=np.int64), words.counts)
    hashes, per_doc = _ngrams(words.hashes, doc_of_word, n_docs, n, short)
    offsets = np.zeros(n_docs + 1, dtype=np.uint64)
    np.cumsum(per_doc, out=offsets[1:])
    return Shingles(hashes, offsets)


def _shingle_part(texts: Sequence[str], n: int, short: str, keep_words: bool) -> tuple[Shingles, Words | None]:
    """Shingles of `texts`, batch by batch, and (`keep_words`) their word hashes, which cost 8 bytes a
    word against the ~50 of the per-word byte strings a batch bounds."""
    parts, kept = [], []
    for batch in _batches(texts):
        parts.append(ngrams(batch, n, short=short))
        if keep_words:
            kept.append(batch)
    words = (Words(np.concatenate([w.hashes for w in kept]), np.concatenate([w.counts for w in kept]))
             if keep_words else None)
    return _joined([p.hashes for p in parts], [p.counts for p in parts]), words


def shingle(texts: Sequence[str], n: int, *, short: str = "whole", remember: bool = False,
            pool: parallel.WorkerPool | None = None) -> Shingles:
    """Word n-gram hashes of every text, batch by batch: only one batch's word hashes and temporaries are
    alive at a time (a lower peak memory than hashing all words first). Over the worker processes of
    `pool` (default: the one open now) when there are several (a document's shingles are its own).
    `remember` keeps the texts' word hashes for `recall_words` (see there)."""
    return shingle_with(texts, n, None, short=short, remember=remember, pool=pool)[0]


def shingle_with(texts: Sequence[str], n: int, per_text: Callable[[Shingles], np.ndarray] | None, *,
                 short: str = "whole", remember: bool = False,
                 pool: parallel.WorkerPool | None = None) -> tuple[Shingles, np.ndarray | None]:
    """`shingle`, and `per_text(shingles)` (one row per text, each row from that text's shingles alone)
    computed in the same workers on their texts, so a per-document step after shingling (streaming
    near dedup's band keys, most of whose time is rensa's rows as Python ints) needs no second fork."""
    pool = pool if pool is not None else parallel.current()
    keep = remember and len(texts) > 0
    if pool.active() > 1 and len(texts) >= pool.min_items:
        # The workers write their hashes into shared memory, each into its texts' region (room for one
        # hash per character: ASCII text cannot have more tokens or shingles), instead of pickling
        # every shingle hash (and as many word hashes) back through a pipe.
        region = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=region[1:])
        room = max(1, int(region[-1]))
        out = (parallel.shared_array((room,), np.uint64), parallel.shared_array((room,), np.uint64) if keep else None)
        parts = pool.map_parts(partial(_shingle_into, texts, n, short, region, out, per_text), range(len(texts)))
        if parts is not None:
            if keep:
                remember_words(texts, Words(np.concatenate([_read(out[1], p.words) for p in parts]),
                                       np.concatenate([p.word_counts for p in parts])))
            sh = _joined([_read(out[0], p.hashes) for p in parts], [p.counts for p in parts])
            return sh, (np.concatenate([p.per_text for p in parts]) if per_text is not None else None)
    parts = pool.run_parts(partial(_shingle_part, n=n, short=short, keep_words=keep), texts)
    if keep:
        remember_words(texts, Words(np.concatenate([p[1].hashes for p in parts]),
                               np.concatenate([p[1].counts for p in parts])))
    sh = _joined([p[0].hashes for p in parts], [p[0].counts for p in parts])
    return sh, (per_text(sh) if per_text is not None else None)


class _Part(NamedTuple):
    """A worker's share of a parallel `shingle_with`: where its hashes are (`_write`) and its counts."""

    hashes: range | np.ndarray
    counts: np.ndarray
    words: range | np.ndarray | None
    word_counts: np.ndarray | None
    per_text: np.ndarray | None


def _shingle_into(texts: Sequence[str], n: int, short: str, region: np.ndarray, out: tuple, per_text,
                  rows: range) -> _Part:
    """A worker's share of a parallel `shingle_with`: its shingle hashes and (when remembering) word
    hashes, each written into its region of the shared arrays `out` when it fits (NFKC can expand
    non-ASCII text) and returned as they are otherwise; the per-text counts; `per_text` of its shingles."""
    sh, words = _shingle_part(texts[rows.start:rows.stop], n, short, keep_words=out[1] is not None)
    lo, hi = int(region[rows.start]), int(region[rows.stop])
    return _Part(_write(out[0], lo, hi, sh.hashes), sh.counts,
                 _write(out[1], lo, hi, words.hashes) if words is not None else None,
                 words.counts if words is not None else None,
                 per_text(sh) if per_text is not None else None)


def _write(shared: np.ndarray, lo: int, hi: int, values: np.ndarray) -> range | np.ndarray:
    if len(values) > hi - lo:
        return values
    shared[lo:lo + len(values)] = values
    return range(lo, lo + len(values))


def _read(shared: np.ndarray, where: range | np.ndarray) -> np.ndarray:
    return shared[where.start:where.stop] if isinstance(where, range) else where


def _joined(hashes: list[np.ndarray], counts: list[np.ndarray]) -> Shingles:
    """One Shingles from consecutive parts' hashes and per-text counts."""
    per_text = np.concatenate(counts)
    offsets = np.zeros(len(per_text) + 1, dtype=np.uint64)
    np.cumsum(per_text, out=offsets[1:])
    return Shingles(np.concatenate(hashes), offsets)
