"""A 2-D map of the pool's embeddings (PCA), sampled so it stays readable and light at any pool size.

The sample is stratified: up to half the points are selected examples and the rest are the others, so a
1% selection is still visible. Each point carries the weight (stratum size / points drawn) that turns
sample counts back into pool estimates. PCA rather than UMAP: deterministic, no extra dependency, and
fast enough to run at the end of every run; it keeps global distances, which is what "the selection
covers the pool" needs.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from sft_select.core.errors import SftSelectError
from sft_select.core.record import Example
from sft_select.report.coverage import cluster_column, distribution


def stratified_sample(selected: np.ndarray, max_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions to draw (sorted) and each one's weight."""
    n = len(selected)
    if n <= max_points:
        return np.arange(n), np.ones(n)
    rng = np.random.default_rng(seed)
    sel, rest = np.flatnonzero(selected), np.flatnonzero(~selected)
    k_sel = min(sel.size, max_points // 2)
    k_rest = min(rest.size, max_points - k_sel)
    k_sel = min(sel.size, max_points - k_rest)  # give unused room back to the selected stratum
    picks, weights = [], []
    for stratum, k in ((sel, k_sel), (rest, k_rest)):
        if k == 0:
            continue
        chosen = rng.choice(stratum, size=k, replace=False)
        picks.append(chosen)
        weights.append(np.full(k, stratum.size / k))
    pos, w = np.concatenate(picks), np.concatenate(weights)
    order = np.argsort(pos)
    return pos[order], w[order]


class _PCA:
    """Principal components by an eigendecomposition of the covariance, in numpy: what scikit-learn's
    PCA computes for tall data ("covariance_eigh"), without importing scikit-learn at the end of every
    run (the import costs more than the PCA itself). Signs follow sklearn's convention: each
    component's largest loading is positive, so the map does not flip between runs."""

    def __init__(self, vecs: np.ndarray, k: int):
        x = np.asarray(vecs, dtype=np.float64)
        self.mean = x.mean(axis=0)
        centered = x - self.mean
        values, vectors = np.linalg.eigh(centered.T @ centered / max(len(x) - 1, 1))
        order = np.argsort(values)[::-1][:k]
        comps = vectors[:, order].T
        comps *= np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])[:, None]
        self.components = comps
        total = values.clip(min=0).sum()
        self.explained_variance_ratio_ = values[order].clip(min=0) / total if total > 0 else np.zeros(len(order))

    def transform(self, vecs: np.ndarray) -> np.ndarray:
        return (np.asarray(vecs, dtype=np.float64) - self.mean) @ self.components.T


def _n_clusters(n: int) -> int:
    return int(np.clip(round(np.sqrt(n / 20)), 2, 12))


def build_map(table: pd.DataFrame, status: np.ndarray, examples: dict[str, Example] | None,
              target: Sequence[Example], *, model: str, max_points: int, seed: int) -> dict[str, Any]:
    if examples is None:
        return {"skipped": "the input files could not be read back, so there is nothing to embed"}
    have = np.fromiter((i in examples for i in table["id"].tolist()), dtype=bool, count=len(table))
    if have.sum() < 3:
        return {"skipped": "fewer than 3 examples could be read back from the inputs"}
    rows = np.flatnonzero(have)
    selected = table["selected"].fillna(False).astype(bool).to_numpy()[rows]
    picked, weights = stratified_sample(selected, max_points, seed)
    pos = rows[picked]
    ids = table["id"].to_numpy()[pos]
    from sft_select.models.embed.embedders import embed_examples

    try:
        vecs = embed_examples([examples[i] for i in ids], model)
        tvecs = embed_examples(list(target), model) if target else None
    except (SftSelectError, OSError) as exc:
        return {"skipped": f"the embedder '{model}' is not available here: {exc}"}
    # One PCA serves both the map (its first two components) and k-means (all of them): clustering 5,000
    # points in 32 dimensions takes a fraction of the time it takes in the embedder's 256-512.
    pca = _PCA(vecs, min(32, vecs.shape[1], len(vecs)))
    reduced = pca.transform(vecs)
    xy = reduced[:, :2]
    out: dict[str, Any] = {
        "method": "PCA", "model": model, "n_points": int(len(pos)), "n_total": int(len(table)),
        "explained_variance": [round(float(v), 4) for v in pca.explained_variance_ratio_[:2]],
        "points": {"id": ids.tolist(), "x": np.round(xy[:, 0], 4).tolist(), "y": np.round(xy[:, 1], 4).tolist(),
                   "status": status[pos].tolist(), "weight": np.round(weights, 3).tolist()},
        # The run's rows per status, so the legend can say "2,500 shown of 10,000" rather than present
        # the sample's counts as the selection's.
        "status_totals": {str(k): int(v) for k, v in pd.Series(status, dtype=object).value_counts().items()},
    }
    if tvecs is not None and len(tvecs):
        txy = pca.transform(tvecs)[:, :2]
        out["target"] = {"id": [t.id for t in target], "x": np.round(txy[:, 0], 4).tolist(),
                         "y": np.round(txy[:, 1], 4).tolist()}
    col = cluster_column(table)
    if col is not None:
        clusters = table[col].to_numpy()[pos]
        out["cluster_source"] = col
    else:
        from sklearn.cluster import KMeans

        k = _n_clusters(len(pos))
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(reduced)
        clusters = np.array([f"k{c}" for c in labels], dtype=object)
        out["cluster_source"] = f"k-means (k={k}) on the map's embeddings"
        # No diversity view wrote clusters, so coverage uses these, weighted back to pool estimates.
        out["coverage_clusters"] = {**distribution(pd.Series(clusters), table["selected"].fillna(False)
                                                   .astype(bool).to_numpy()[pos], weights=weights),
                                    "column": out["cluster_source"], "estimated": len(pos) < len(table)}
    out["points"]["cluster"] = [None if pd.isna(c) else str(c) for c in clusters]
    return out
