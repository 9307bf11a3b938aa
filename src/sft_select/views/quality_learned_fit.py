"""Fit a quality_learned model on a user's own labels: graded rows or preference pairs.

`sft-select train-quality --view quality_learned` writes a file in the shipped model's format
(views/quality_learned.py `load_model`), so `views.settings.quality_learned.params.path` runs on it.

The fit is a Bradley-Terry logistic regression over pairs (a better than b): P = sigmoid(w . (z(a) - z(b))),
z the standardized `pair_features` of an answer with its prompt. Pairs come from
- preference rows (prompt, chosen, rejected): one pair each;
- graded rows (any numeric scale): every two rows with different grades to the same prompt when prompts
  repeat (the grade of an answer is read against the other answers to its prompt), else pairs across
  rows, at most MAX_PAIRS drawn with the seed. A pairwise fit reads only the order of the grades, so a
  1-5 scale, a tier index and 0/1 all mean what they say and nothing more.
On the self_instruct tiers a ridge regression on the grade ordered the held-out tiers no better than the
pairwise fit (bench/train_quality_tiers.py; docs/benchmarks.md).

Labels with two values (or rows bunched at the two ends of the scale) teach only that contrast: the
model separates the ends and leaves the order of anything between them to chance. `label_span` says so,
and the warning goes into the model's meta.

No guard: the shipped model's synthetic-negative guard (off-topic, shuffled, cut answers) is learned
from its training answers; a user model scores what the user's labels taught, nothing else.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.views.quality_learned import FORMAT, SCALARS, STATS, joined, pair_features, turn_pairs

PROBES = ("The capital of France is Paris.", "def add(a, b):\n    return a + b", "I'm sorry, I cannot help.")
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0)  # L2 on w (standardized features), picked by held-out pair log-loss
MAX_PAIRS = 200_000
FOLDS = 5
EXTREME_SHARE = 0.9  # rows at the lowest or highest grade: at or above this share, the middle is too thin


def last_turn(ex: Example) -> tuple[str, str]:
    """The (prompt, answer) a row's label is about: its last assistant turn, prompted by the turns since the
    previous one (as the view scores each turn)."""
    if ex.text is not None:
        raise ConfigError(f"{ex.source}: quality_learned trains on prompt/response rows, not labelled text")
    return turn_pairs(ex)[-1]


def label_span(grades: np.ndarray) -> tuple[str, str | None]:
    """('graded' | 'two values' | 'two extreme groups', the warning or None)."""
    values = np.unique(grades)
    lo, hi = values[0], values[-1]
    at_ends = float(np.mean((grades == lo) | (grades == hi)))
    if len(values) == 2:
        span = "two values"
        what = f"the labels take two values ({lo:g} and {hi:g})"
    elif at_ends >= EXTREME_SHARE:
        span = "two extreme groups"
        what = f"{at_ends:.0%} of the rows sit at the lowest or highest grade ({lo:g}, {hi:g})"
    else:
        return "graded", None
    return span, (f"{what}: the model learns only the contrast between those two groups and will not order "
                  "answers between them; give graded labels (or preference pairs) that cover the middle")


def graded_pairs(grades: np.ndarray, prompts: Sequence[str], seed: int,
                 max_pairs: int = MAX_PAIRS) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(better, worse, group of each row, within_prompt): pairs of rows with different grades."""
    _, group = np.unique(np.asarray(prompts, dtype=object).astype(str), return_inverse=True)
    mixed = [np.flatnonzero(group == g) for g in np.unique(group)]
    mixed = [rows for rows in mixed if len(np.unique(grades[rows])) > 1]
    within = sum(len(rows) for rows in mixed) >= len(grades) / 2  # most rows share a prompt with others
    if within:
        a, b = [], []
        for rows in mixed:
            i, j = np.triu_indices(len(rows), 1)
            a.append(rows[i])
            b.append(rows[j])
        a, b = np.concatenate(a), np.concatenate(b)
    else:
        group = np.arange(len(grades))
        a, b = np.triu_indices(len(grades), 1) if len(grades) <= 2000 else \
            np.random.default_rng(seed).integers(0, len(grades), size=(2, 4 * max_pairs))
    keep = grades[a] != grades[b]
    a, b = a[keep], b[keep]
    if len(a) > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(len(a), max_pairs, replace=False))
        a, b = a[pick], b[pick]
    up = grades[a] > grades[b]
    return np.where(up, a, b), np.where(up, b, a), group, within


def features(prompts: Sequence[str], answers: Sequence[str], embedder: str) -> np.ndarray:
    from sft_select.models.embed.embedders import get_embedder

    model = get_embedder(embedder)
    content = model.encode([joined(p, a) for p, a in zip(prompts, answers)])
    distinct = sorted(set(prompts))
    where = {p: i for i, p in enumerate(distinct)}
    pvec = model.encode(distinct)[[where[p] for p in prompts]]
    return pair_features(prompts, answers, content, pvec)


def _fit_bt(Z: np.ndarray, a: np.ndarray, b: np.ndarray, lam: float, start: np.ndarray | None) -> np.ndarray:
    """w minimizing mean log(1 + exp(-(s_a - s_b))) + lam/2 |w|^2, s = Z w; the gradient is gathered per row
    (bincount), so no (pairs x features) matrix is ever built."""
    from scipy.optimize import minimize

    n, m = len(Z), len(a)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = Z @ w
        t = s[a] - s[b]
        r = 0.5 * (1.0 - np.tanh(0.5 * t))  # sigmoid(-t) without overflow
        g = np.bincount(a, r, n) - np.bincount(b, r, n)
        return float(np.mean(np.logaddexp(0.0, -t)) + 0.5 * lam * w @ w), -(Z.T @ g) / m + lam * w

    x0 = np.zeros(Z.shape[1]) if start is None else start
    return minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x


def _cv(Z: np.ndarray, a: np.ndarray, b: np.ndarray, group: np.ndarray,
        seed: int) -> tuple[float, dict | None, np.ndarray | None]:
    """The lambda with the lowest held-out pair log-loss (folds by group: a prompt never in both), its
    held-out pair accuracy, and every row's out-of-fold score."""
    groups = np.unique(group[a])
    k = min(FOLDS, len(groups))
    if k < 2:
        return 0.1, None, None
    every = np.unique(group)
    fold_of = np.empty(group.max() + 1, dtype=np.int64)
    fold_of[every] = np.random.default_rng(seed).permutation(len(every)) % k
    fa, fb = fold_of[group[a]], fold_of[group[b]]
    oof = {lam: np.zeros(len(Z)) for lam in LAMBDAS}
    for f in range(k):
        train = (fa != f) & (fb != f)
        if not train.any():
            continue
        w = None
        for lam in sorted(LAMBDAS, reverse=True):  # strongest first, each warm-starting the next
            w = _fit_bt(Z, a[train], b[train], lam, w)
            held = fold_of[group] == f
            oof[lam][held] = Z[held] @ w
    test = fa == fb  # pairs inside one held-out fold: both ends scored by the same model
    logloss = {lam: float(np.mean(np.logaddexp(0.0, -(s[a[test]] - s[b[test]])))) for lam, s in oof.items()}
    lam = min(logloss, key=logloss.get)
    t = oof[lam][a[test]] - oof[lam][b[test]]
    acc = float(np.mean((t > 0) + 0.5 * (t == 0)))
    return lam, {"folds": k, "pairs": int(test.sum()), "pair_accuracy": round(acc, 4),
                 "log_loss": round(logloss[lam], 4)}, oof[lam]


def fit_pairs(F: np.ndarray, a: np.ndarray, b: np.ndarray, group: np.ndarray, *, within_prompt: bool,
              embedder: str, seed: int = 0) -> dict[str, Any]:
    """The model file's arrays and meta from features F (one row per answer) and pairs a[k] better than b[k]."""
    if len(a) == 0:
        raise ConfigError("train-quality: no pairs to learn from (every label is the same, or no rows)")
    mean, scale = F.mean(axis=0), F.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (F - mean) / scale
    lam, cv, oof = _cv(Z, a, b, group, seed)
    w = _fit_bt(Z, a, b, lam, None)
    d = F.shape[1]
    emb = (d - SCALARS) // 3
    if within_prompt:
        # Pairs under one prompt never teach the level of a score across prompts: take out what the prompt
        # alone predicts of it (its block of z), as the shipped model's training does.
        pb = slice(d - emb, d)
        s = Z @ w
        Zp = Z[:, pb]
        w[pb] -= np.linalg.solve(Zp.T @ Zp + np.eye(emb), Zp.T @ (s - s.mean()))
    digest = hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()[:12]
    meta = {"format": FORMAT, "model_version": f"user-{digest}", "embedder": embedder,
            "features": {"embedding": emb, "stats": list(STATS)}, "lambda": lam, "cv": cv,
            "pairs": {"count": int(len(a)), "within_prompt": bool(within_prompt)}, "answers": int(len(F)),
            "guard": None, "seed": seed}
    return {"coef": w, "intercept": np.array([-float(np.mean(Z @ w))]), "mean": mean, "scale": scale,
            "meta": meta, "oof": oof}


def fit_graded(examples: Sequence[Example], grades: Sequence[float], *, embedder: str, seed: int = 0) -> dict[str, Any]:
    """A model from rows with numeric grades (higher = better)."""
    from scipy.stats import spearmanr

    g = np.asarray(grades, dtype=np.float64)
    if len(g) < 2 or len(np.unique(g)) < 2:
        raise ConfigError(f"train-quality: graded labels need at least two different grades "
                          f"(got {len(np.unique(g))} among {len(g)} rows)")
    prompts, answers = zip(*(last_turn(ex) for ex in examples))
    a, b, group, within = graded_pairs(g, prompts, seed)
    model = fit_pairs(features(prompts, answers, embedder), a, b, group, within_prompt=within,
                      embedder=embedder, seed=seed)
    span, warning = label_span(g)
    oof = model.pop("oof")
    if oof is not None:
        model["meta"]["cv"]["spearman_grade"] = round(float(spearmanr(oof, g).correlation), 4)
    model["meta"].update(labels={"kind": "graded", "rows": int(len(g)), "values": int(len(np.unique(g))),
                                 "min": float(g.min()), "max": float(g.max()), "span": span}, warning=warning)
    return model


def fit_preferences(chosen: Sequence[tuple[str, str]], rejected: Sequence[tuple[str, str]], *, embedder: str,
                    seed: int = 0) -> dict[str, Any]:
    """A model from preference pairs: chosen[k] (prompt, answer) beats rejected[k]."""
    n = len(chosen)
    if n == 0:
        raise ConfigError("train-quality: no preference pairs to learn from")
    prompts = [p for p, _ in chosen] + [p for p, _ in rejected]
    answers = [x for _, x in chosen] + [x for _, x in rejected]
    _, group = np.unique(np.asarray([p for p, _ in chosen], dtype=object).astype(str), return_inverse=True)
    a, b = np.arange(n), np.arange(n, 2 * n)
    within = all(c[0] == r[0] for c, r in zip(chosen, rejected))
    model = fit_pairs(features(prompts, answers, embedder), a, b, np.r_[group, group], within_prompt=within,
                      embedder=embedder, seed=seed)
    model.pop("oof")
    model["meta"].update(labels={"kind": "pairwise", "rows": n, "span": "pairs"}, warning=None)
    return model


def write_model(model: dict[str, Any], path: str | Path) -> Path:
    """Write the model atomically as plain arrays (read back with allow_pickle=False), with the probe texts
    and their vectors that let the view check its embedder gives the vectors the model was trained on."""
    from sft_select.io.atomic import atomic_path
    from sft_select.models.embed.embedders import get_embedder

    path = Path(path)
    probes = get_embedder(model["meta"]["embedder"]).encode(list(PROBES)).astype(np.float64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, coef=model["coef"], intercept=model["intercept"], mean=model["mean"],
                                scale=model["scale"], probe_texts=np.array(PROBES), probe_vecs=probes,
                                meta=np.array(json.dumps(model["meta"], sort_keys=True)))
    return path
