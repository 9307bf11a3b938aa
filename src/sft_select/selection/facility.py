"""Facility location, lazy greedy: pick S so that every candidate has a close representative in S.

    f(S) = (1 - mix) · Σ_i max_{j∈S} sim(i, j) / scale  +  mix · Σ_{j∈S} score_j   (mix: select.facility.mix)

The coverage term is monotone submodular and the score term modular, so the greedy pick is within
(1 - 1/e) of the best S of its size, and lazy evaluation (Minoux) recomputes only the gains that can
still win. Similarities are a sparse kNN graph (each candidate's `knn` nearest neighbours by cosine,
clipped at 0, plus itself), so memory is O(pool × knn), never pool². The neighbour search is exact
(faiss flat inner product), so its time is quadratic in the pool (figures: docs/benchmarks.md).
`scale` is the mean coverage gain of one example on an empty S, so both terms are of order 1.
"""
from __future__ import annotations

import heapq

import numpy as np
import pandas as pd
from scipy import sparse

from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig


def knn_graph(X: np.ndarray, k: int) -> sparse.csc_matrix:
    """W[i, j] = max(cos(i, j), 0) for j among i's k nearest neighbours, and W[i, i] = 1."""
    import faiss

    n = len(X)
    k_eff = min(k + 1, n)
    index = faiss.IndexFlatIP(X.shape[1])
    X = np.ascontiguousarray(X, dtype=np.float32)
    index.add(X)
    sims, nbrs = index.search(X, k_eff)
    rows = np.repeat(np.arange(n), k_eff)
    cols, vals = nbrs.ravel(), np.clip(sims.ravel(), 0.0, 1.0)
    ok = cols >= 0
    W = sparse.coo_matrix((vals[ok], (rows[ok], cols[ok])), shape=(n, n)).tocsr()
    W.sum_duplicates()
    W = W.maximum(sparse.identity(n, format="csr"))  # self-similarity 1, whatever the search returned
    return W.tocsc()


def coverage(W: sparse.csc_matrix, chosen: np.ndarray) -> float:
    """Σ_i max_{j∈S} W[i, j]: how well S represents every candidate (the facility-location value)."""
    if len(chosen) == 0:
        return 0.0
    return float(W[:, chosen].max(axis=1).toarray().sum())


def select_facility(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    walk = Walk(table, cfg, ctx)
    order = walk.order
    if len(order) == 0:
        return walk.result()
    ids = table["id"].to_numpy()[order].tolist()
    W = knn_graph(ctx.embeddings(ids, "strategy facility"), cfg.knn)
    score = np.nan_to_num(walk.scores[order], nan=0.0)
    cover = np.zeros(len(order))
    indptr, indices, data = W.indptr, W.indices, W.data

    def fl_gain(j: int) -> float:
        rows = indices[indptr[j]:indptr[j + 1]]
        return float(np.maximum(data[indptr[j]:indptr[j + 1]] - cover[rows], 0.0).sum())

    col_mass = np.asarray(W.sum(axis=0)).ravel()
    scale = float(col_mass.mean()) or 1.0
    a = cfg.facility.mix

    def gain(j: int) -> float:
        return (1 - a) * fl_gain(j) / scale + a * score[j]

    # Ties go to the better-ranked candidate (j is its place in score order), so the result is deterministic.
    heap = [(-((1 - a) * col_mass[j] / scale + a * score[j]), j) for j in range(len(order))]
    heapq.heapify(heap)
    done = np.zeros(len(order), dtype=bool)
    rank = 0
    while heap and not walk.full:
        _, j = heapq.heappop(heap)
        g = gain(j)
        if heap and g < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g, j))  # stale bound: re-queue with the fresh gain
            continue
        done[j] = True
        if walk.offer(int(order[j]), rank):
            rows = indices[indptr[j]:indptr[j + 1]]
            cover[rows] = np.maximum(cover[rows], data[indptr[j]:indptr[j + 1]])
        rank += 1
    left = np.flatnonzero(~done)  # the candidates never picked, in score order
    walk.rest_not_selected(order[left], rank)
    return walk.result()


STRATEGY = Strategy(select_facility, reads_embeddings=True)
