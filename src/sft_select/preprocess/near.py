"""Near-duplicate dedup: MinHash-LSH over word n-gram shingles (rensa), candidates verified by exact Jaccard.

Stages, each timed:
1. shingle: word n-gram hashes for every document (`shingles.shingle`, vectorized).
2. sketch: rensa's R-MinHash digests for all documents at once, from the flat hash buffer.
3. flag: rensa's native LSH marks documents that share a band with any other document; only those can be
   in a candidate pair, so the digests of flagged documents alone are copied out to numpy (copying all of
   them costs more than sketching them).
4. bucket: the flagged digests are banded in numpy and documents sharing a band bucket become candidates.
5. verify: each candidate pair's exact Jaccard on the shingle sets (vectorized, `pair_jaccard`); pairs
   at or over the threshold are near-duplicate pairs.
6. group (`near_links`): in input order, a document joins the earliest cluster whose every member it
   is a verified pair with, else starts its own; only those (representative, member) links go to the
   union-find (`DuplicateClusters`). Linking every verified pair chained neighbours of neighbours: on
   GPTeacher-Toolformer 660 examples became one cluster whose members' Jaccard to the kept one had
   median 0.54, under the 0.7 threshold. Now every two members of a near cluster are a verified pair,
   so whichever member is kept after scoring, each dropped one is within the threshold of it.

LSH can miss a pair (probability 1-(1-J^r)^b); verification removes every false candidate, so the bands
are chosen for recall (`choose_bands`).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sft_select.core.errors import MissingDependency

# preprocess.near_stream imports `_bucket_pairs` from here; the kernel lives with the executors' kernels
from sft_select.executors.kernels import bucket_pairs as _bucket_pairs  # noqa: F401
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.config import NearConfig
from sft_select.preprocess.shingles import Shingles, mix64, shingle


def choose_bands(threshold: float, num_perm: int, min_recall: float = 0.9) -> int:
    """The fewest bands (fewest false candidates) that still catch a pair exactly at the threshold with
    probability >= `min_recall`; bands must divide num_perm (rensa's layout)."""
    divisors = [b for b in range(1, num_perm + 1) if num_perm % b == 0]
    for b in divisors:
        r = num_perm // b
        if 1.0 - (1.0 - threshold ** r) ** b >= min_recall:
            return b
    return divisors[-1]


@dataclass
class NearResult:
    pairs: np.ndarray  # (k, 2) local indices of verified pairs (a < b), sorted
    jaccard: np.ndarray  # exact Jaccard of each verified pair
    candidates: int  # distinct candidate pairs LSH proposed
    flagged: int  # documents sharing at least one band bucket
    bands: int
    seconds: dict[str, float] = field(default_factory=dict)
    linked: int | None = None  # documents linked to a representative (`near_links`), once grouped

    def stats(self) -> dict:
        out = {"candidate_pairs": self.candidates, "flagged_docs": self.flagged, "verified_pairs": len(self.pairs),
               "bands": self.bands, "stage_seconds": {k: round(v, 4) for k, v in self.seconds.items()}}
        if self.linked is not None:
            out["linked_docs"] = self.linked
        return out


def _rensa():
    try:
        import rensa
    except ImportError:
        raise MissingDependency("rensa", "near-duplicate dedup (preprocess.near)") from None
    return rensa


def _digest_rows(sh: Shingles, num_perm: int, seed: int):
    RMinHash = _rensa().RMinHash  # noqa: N806 - the library's class name

    return RMinHash.digest_matrix_from_flat_token_hashes(sh.hashes, sh.offsets, num_perm, seed)


def _to_numpy(matrix, n: int, num_perm: int) -> np.ndarray:
    flat = itertools.chain.from_iterable(matrix.to_rows())
    return np.fromiter(flat, dtype=np.uint32, count=n * num_perm).reshape(n, num_perm)


def band_keys_of(digests: np.ndarray, bands: int) -> np.ndarray:
    """(n, bands) uint64: each band's rows of the MinHash digests mixed into one bucket key."""
    rows = digests.shape[1] // bands
    keys = np.empty((len(digests), bands), dtype=np.uint64)
    for b in range(bands):
        band = digests[:, b * rows:(b + 1) * rows].astype(np.uint64)
        key = band[:, 0] * np.uint64(0x9E3779B97F4A7C15)
        for j in range(1, rows):
            key = mix64(key + band[:, j])
        keys[:, b] = mix64(key ^ np.uint64(b))
    return keys


def lsh_candidates(sh: Shingles, num_perm: int, bands: int, threshold: float, seed: int,
                   seconds: dict[str, float] | None = None, executor=None) -> tuple[np.ndarray, int]:
    """Distinct candidate pairs (a < b, document indices) and the number of flagged documents.
    `executor` (default: local) buckets the band keys (`band_pairs`: `executors.kernels.bucket_pairs` per band)."""
    RMinHashLSH = _rensa().RMinHashLSH  # noqa: N806 - the library's class name
    seconds = seconds if seconds is not None else {}
    nonempty = np.flatnonzero(sh.counts > 0)  # a document with no shingle has nothing to compare
    if len(nonempty) < 2:
        return np.zeros((0, 2), dtype=np.int64), 0
    t = time.perf_counter()
    sub = sh if len(nonempty) == len(sh.counts) else sh.subset(nonempty)
    matrix = _digest_rows(sub, num_perm, seed)
    seconds["sketch"] = time.perf_counter() - t
    t = time.perf_counter()
    flags = np.asarray(RMinHashLSH(threshold, num_perm, bands).query_duplicate_flags_matrix_one_shot(matrix), bool)
    flagged = nonempty[flags]
    seconds["flag"] = time.perf_counter() - t
    if len(flagged) < 2:
        return np.zeros((0, 2), dtype=np.int64), len(flagged)
    t = time.perf_counter()
    digests = _to_numpy(_digest_rows(sh.subset(flagged), num_perm, seed), len(flagged), num_perm)
    keys = band_keys_of(digests, bands)
    if executor is None:
        from sft_select.executors.local import LocalExecutor

        executor = LocalExecutor()
    local = executor.band_pairs(keys)  # distinct (a < b) pairs of rows of `flagged`, sorted
    cand = np.stack([flagged[local[:, 0]], flagged[local[:, 1]]], -1) if len(local) else np.zeros((0, 2), np.int64)
    seconds["bucket"] = time.perf_counter() - t
    return cand, len(flagged)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted arrays of distinct values (the reference `pair_jaccard` is checked against)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    idx = np.searchsorted(b, a)
    inter = int(np.count_nonzero(b[np.minimum(idx, len(b) - 1)] == a))
    return inter / (len(a) + len(b) - inter)


def pair_jaccard(sh: Shingles, pairs: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """Exact Jaccard of many document pairs at once: the documents' shingle sets as rows of a sparse 0/1
    matrix, intersections as row-wise products (C++), ~5x faster than a numpy call per pair."""
    import scipy.sparse as sp

    if len(pairs) == 0:
        return np.zeros(0)
    docs = np.unique(pairs)
    sub = sh.subset(docs)
    vocab, inverse = np.unique(sub.hashes, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(inverse), np.float32), inverse.astype(np.int64), sub.offsets.astype(np.int64)),
                      shape=(len(docs), len(vocab)))
    x.sum_duplicates()  # a shingle repeated within a document counts once
    x.data[:] = 1
    sizes = np.diff(x.indptr)
    la, lb = np.searchsorted(docs, pairs[:, 0]), np.searchsorted(docs, pairs[:, 1])
    out = np.empty(len(pairs))
    for s in range(0, len(pairs), chunk):
        a, b = la[s:s + chunk], lb[s:s + chunk]
        inter = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
        union = sizes[a] + sizes[b] - inter
        out[s:s + chunk] = np.divide(inter, union, out=np.zeros(len(a)), where=union > 0)
    return out


def near_links(pairs: np.ndarray) -> np.ndarray:
    """(representative, member) links that group verified pairs (a < b, indices in input order) into
    clusters in which every two members are a verified pair (greedy complete linkage).

    In input order, a document with verified pairs to earlier documents joins the cluster of the
    earliest representative whose every member it pairs with; otherwise it starts a cluster of its own
    (and later documents may join it). A pair that would chain two rows under the threshold is left
    unlinked. Linear in the number of pairs; the same pairs give the same links on every engine and in
    streaming, since all of them pass their verified pairs here in input order."""
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64)
    order = np.lexsort((pairs[:, 0], pairs[:, 1]))  # by member b, then by earlier document a
    a_sorted, b_sorted = pairs[order, 0].tolist(), pairs[order, 1].tolist()
    rep_of: dict[int, int] = {}  # document -> its cluster's representative (absent: its own)
    size: dict[int, int] = {}  # representative -> members (absent: 1)
    links: list[tuple[int, int]] = []
    i, m = 0, len(b_sorted)
    while i < m:
        b = b_sorted[i]
        counts: dict[int, int] = {}
        while i < m and b_sorted[i] == b:
            r = rep_of.get(a_sorted[i], a_sorted[i])
            counts[r] = counts.get(r, 0) + 1
            i += 1
        full = [r for r, c in counts.items() if c == size.get(r, 1)]
        if full:
            r = min(full)
            rep_of[b] = r
            size[r] = size.get(r, 1) + 1
            links.append((r, b))
    return np.asarray(links, dtype=np.int64).reshape(-1, 2)


def find_near_duplicates(texts: Sequence[str] | None, cfg: NearConfig, *, shingles: Shingles | None = None,
                         executor=None, remember: bool = False) -> NearResult:
    """Verified near-duplicate pairs among `texts` (or precomputed `shingles`), by local index."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    pool = executor.pool if executor is not None else None  # its worker processes, for the shingling
    sh = shingles if shingles is not None else shingle(texts or [], cfg.ngram, remember=remember, pool=pool)
    seconds["shingle"] = time.perf_counter() - t
    bands = cfg.bands or choose_bands(cfg.threshold, cfg.num_perm)
    cand, flagged = lsh_candidates(sh, cfg.num_perm, bands, cfg.threshold, cfg.seed, seconds, executor)
    t = time.perf_counter()
    sims = pair_jaccard(sh, cand)
    ok = sims >= cfg.threshold
    seconds["verify"] = time.perf_counter() - t
    return NearResult(cand[ok], sims[ok], len(cand), flagged, bands, seconds)


def link_near(texts: Sequence[str], positions: Sequence[int], clusters: DuplicateClusters, cfg: NearConfig,
              executor=None) -> NearResult:
    """Link near-duplicates among `texts` (the contents at pool `positions`) into `clusters`.

    The grouping (`near_links`, then the union-find) runs on the driver over the verified pairs, on every
    engine: the verified edges are few (at most a few per document), unlike the candidate pairs the
    executor builds."""
    # Where batch functions share this process's memory (the local engine), the pool's word hashes are
    # kept for relevance_dsir, which scores the same contents (near dedup's default field) in this
    # process or its forked workers.
    shared = executor is None or executor.shares_memory
    result = find_near_duplicates(texts, cfg, executor=executor, remember=shared and cfg.field == "content")
    pos = np.asarray(positions, dtype=np.int64)
    links = near_links(result.pairs)
    result.linked = len(links)
    clusters.link(((int(pos[a]), int(pos[b])) for a, b in links), "near")
    return result
