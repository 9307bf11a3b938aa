"""Near dedup split for a streamed run (stream_links.py): shingles and LSH band keys per chunk,
candidate pairs and their exact Jaccard check after the pass, over the band keys of every chunk.

Per document the band keys are what `preprocess.near.lsh_candidates` computes (rensa R-MinHash digests,
rows of a band mixed into one uint64), so bucketing all of them gives the in-memory run's candidates.
Verification reads the shingles of the candidate documents only, from the memory-mapped shards.
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import numpy as np

from sft_select.preprocess.near import _bucket_pairs, _digest_rows, _to_numpy, band_keys_of, choose_bands, pair_jaccard
from sft_select.preprocess.shingles import Shingles, shingle_with

EMPTY = np.uint64(0)  # band key of a document with no shingle: it is never bucketed


def bands_for(cfg) -> int:
    return cfg.bands or choose_bands(cfg.threshold, cfg.num_perm)


def shingles_and_band_keys(texts: Sequence[str], cfg, bands: int, *,
                           remember: bool = False) -> tuple[Shingles, np.ndarray]:
    """The texts' shingles and their `band_keys`, the keys computed by the workers that shingle (a
    document's keys come from its own shingles)."""
    return shingle_with(texts, cfg.ngram, partial(band_keys, cfg=cfg, bands=bands), remember=remember)


def band_keys(sh: Shingles, cfg, bands: int) -> np.ndarray:
    """(n, bands) uint64: one key per LSH band; documents without shingles get EMPTY keys."""
    n = len(sh.counts)
    out = np.zeros((n, bands), dtype=np.uint64)
    nonempty = np.flatnonzero(sh.counts > 0)
    if len(nonempty) == 0:
        return out
    sub = sh if len(nonempty) == n else sh.subset(nonempty)
    digests = _to_numpy(_digest_rows(sub, cfg.num_perm, cfg.seed), len(nonempty), cfg.num_perm)
    out[nonempty] = band_keys_of(digests, bands)
    return out


def candidate_pairs(band_column, bands: int, valid: np.ndarray) -> np.ndarray:
    """Distinct pairs (a < b, row indices) of valid documents sharing a key in some band;
    `band_column(b)` gives band b's keys of every row (one band in memory at a time)."""
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = [rows[_bucket_pairs(np.ascontiguousarray(band_column(b)[rows]))] for b in range(bands)]
    local = np.sort(np.concatenate(pairs), axis=1)
    if len(local) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    n = np.int64(len(valid))
    code = np.unique(local[:, 0] * n + local[:, 1])
    return np.stack([code // n, code % n], -1)


def verified(pairs: np.ndarray, shingles_at, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose exact Jaccard reaches the threshold; `shingles_at(docs)` gives the Shingles of
    the (sorted) document rows `docs`, read from the shards."""
    if len(pairs) == 0:
        return pairs, np.zeros(0)
    docs = np.unique(pairs)
    sub = shingles_at(docs)
    local = np.searchsorted(docs, pairs)
    sims = pair_jaccard(sub, local)
    ok = sims >= threshold
    return pairs[ok], sims[ok]
