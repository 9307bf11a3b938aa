"""The numpy kernels behind the global steps, run on one shard of rows by either executor.

The local executor calls a kernel once on all rows; the Ray executor hash-shuffles the rows so that every
row a kernel must see together (equal keys, one band bucket, one cluster) lands in the same group, then
calls the same kernel per group (`groupby(...).map_groups`). A kernel therefore never depends on which
other groups share its shard or on the order rows arrive in: it sorts by row position first. That is
what makes the two engines bit-identical.
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
ALL_PAIRS_MAX = 32  # a bucket up to this size yields all its pairs; a larger one a star and a chain


def key_columns(keys: np.ndarray) -> np.ndarray:
    """`keys` as a 2-D uint64 array (n, w): one column per 64-bit word of the key."""
    keys = np.asarray(keys)
    if keys.ndim == 1:
        keys = keys[:, None]
    if keys.ndim != 2 or keys.dtype != np.uint64:
        raise TypeError(f"keys must be a uint64 array (n,) or (n, w), not {keys.dtype} {keys.shape}")
    return keys


def shard_of(keys: np.ndarray, shards: int) -> np.ndarray:
    """A shard number per row from its key words (equal keys → equal shard); keys are hashes already,
    so a multiplicative mix of the words spreads them evenly."""
    mixed = np.zeros(len(keys), dtype=np.uint64)
    for j in range(keys.shape[1]):
        mixed = (mixed ^ keys[:, j]) * _GOLDEN
    return (mixed >> np.uint64(32)) % np.uint64(max(1, shards))


def first_of_equal(keys: np.ndarray, pos: np.ndarray) -> dict[str, np.ndarray]:
    """For rows (`keys` (n, w), row positions `pos`): each row's position and the smallest position with
    the same key."""
    order = np.lexsort((pos, *[keys[:, j] for j in range(keys.shape[1] - 1, -1, -1)]))
    sk, sp = keys[order], pos[order]
    starts = np.flatnonzero(np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)]) if len(sk) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(sk)])
    return {"pos": sp.astype(np.int64), "first": np.repeat(sp[starts], sizes).astype(np.int64)}


def band_pairs(band: np.ndarray, key: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Candidate pairs (row_a < row_b) among rows sharing a band bucket: `bucket_pairs` per band,
    on the band's rows in ascending row order (so a large bucket's star starts from its first row, as it
    does when all rows are bucketed at once)."""
    out = [np.zeros((0, 2), dtype=np.int64)]
    for b in np.unique(band):
        sel = np.flatnonzero(band == b)
        sel = sel[np.argsort(row[sel], kind="stable")]
        pairs = bucket_pairs(key[sel])
        out.append(row[sel][pairs])
    return np.sort(np.concatenate(out).astype(np.int64), axis=1)


def bucket_pairs(keys: np.ndarray) -> np.ndarray:
    """Candidate pairs (as rows of indices into `keys`) among entries with equal keys (near dedup's LSH
    buckets of one band)."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    edges = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
    starts, sizes = edges[:-1], np.diff(edges)
    out = []
    for size in np.unique(sizes[sizes >= 2]):
        run_starts = starts[sizes == size]
        if size <= ALL_PAIRS_MAX:
            i, j = np.triu_indices(size, k=1)
            out.append(np.stack([order[run_starts[:, None] + i], order[run_starts[:, None] + j]], -1).reshape(-1, 2))
        else:  # star from the first member plus a chain: linear in the bucket size
            for s in run_starts:
                members = order[s:s + size]
                out.append(np.stack([np.full(size - 1, members[0]), members[1:]], -1))
                out.append(np.stack([members[1:-1], members[2:]], -1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def distinct_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an (m, 2) int64 array, sorted by (a, b)."""
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(pairs.astype(np.int64), axis=0)


def rank_order(scores: np.ndarray, ids: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """Indices into the arrays ordered by (-score, id, pos): `ranked()`'s order, made total by position."""
    keys = [pos] + ([ids] if ids is not None else []) + [-scores]
    if ids is not None and ids.dtype == object:  # lexsort wants a comparable array: unicode, not objects
        keys[1] = ids.astype(str)
    return np.lexsort(keys)
