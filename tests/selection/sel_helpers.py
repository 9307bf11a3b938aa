"""Toy score tables with their examples, and a Context that serves fixed embeddings (imported by the tests;
a uniquely named module, since every test folder's conftest would be `conftest`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sft_select.core.record import Example
from sft_select.selection.base import Context


class ArrayContext(Context):
    """A Context whose embeddings are given, so a test controls every similarity."""

    def __init__(self, examples, vectors: dict[str, np.ndarray]):
        super().__init__({ex.id: ex for ex in examples}, "given")
        self.vectors = vectors

    def embeddings(self, ids, why):
        return np.stack([self.vectors[i] for i in ids]).astype(np.float32)


def make_pool(n: int = 200, n_labels: int = 4, seed: int = 0, words: int = 12):
    """A labelled pool with skewed class sizes, random scores, and texts of varied length."""
    rng = np.random.default_rng(seed)
    probs = np.array([0.5, 0.25, 0.15, 0.1][:n_labels])
    labels = rng.choice(n_labels, size=n, p=probs / probs.sum())
    examples, rows = [], []
    for i in range(n):
        text = " ".join(f"w{rng.integers(0, 50)}" for _ in range(int(rng.integers(3, words))))
        ex = Example(id=f"id{i:04d}", source="toy", row=i, format="text_label", original={"text": text},
                     text=text, label=f"c{labels[i]}")
        examples.append(ex)
        rows.append({"id": ex.id, "label": ex.label, "reason": None, "score": float(rng.random())})
    table = pd.DataFrame(rows)
    table.loc[rng.choice(n, size=n // 20, replace=False), "reason"] = "filtered: toy"
    table.loc[table["reason"].notna(), "score"] = np.nan
    return table, examples


def clustered(n_clusters: int = 10, per: int = 30, dim: int = 32, seed: int = 0, spread: float = 0.15):
    """Unit vectors around `n_clusters` random centres; cluster sizes are very unequal on purpose."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    sizes = np.maximum(2, (per * np.geomspace(3, 0.1, n_clusters)).astype(int))
    vecs, cl = [], []
    for c, size in enumerate(sizes):
        v = centres[c] + spread * np.sqrt(dim) / 4 * rng.normal(size=(size, dim))
        vecs.append(v)
        cl += [c] * size
    X = np.vstack(vecs)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.array(cl)
