"""quality_model: a quality classifier the user trains on their own good and bad examples.

`sft-select train-quality --good FILE --bad FILE --out DIR` fits a logistic regression on embeddings
plus a few heuristic features (the quality_heuristic signals and the response length) and saves it
without pickle: the weights and feature scaling in `quality_model.npz`, read with allow_pickle=False,
and a JSON meta naming the embedder and its fingerprint, so a model is never applied to embeddings of a
different model. A run uses it with `views.settings.quality_model.params.path: DIR`; the raw value is
P(good).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.models.embed.embedders import embed_examples, get_embedder
from sft_select.textstats import signals
from sft_select.views.base import View, ViewResult
from sft_select.views.quality_heuristic import QualityHeuristic
from sft_select.views.registry import register

FORMAT = "sft-select-quality-model"
FORMAT_VERSION = 1
HEURISTICS = ("length", "repetition", "text_ratio", "not_refusal", "complete", "prompt", "not_echo", "log_words")


def heuristic_features(examples: Sequence[Example]) -> np.ndarray:
    """(n, len(HEURISTICS)); signals a text row lacks (refusal, echo…) count as good (1.0)."""
    out = np.ones((len(examples), len(HEURISTICS)))
    heuristic = QualityHeuristic(ideal_words=120, truncation="punctuation")
    for names, (rows, vals) in heuristic.signal_table(examples).items():
        out[np.ix_(rows, [HEURISTICS.index(name) for name in names])] = vals
    for i, ex in enumerate(examples):
        body = ex.text if ex.text is not None else ex.response
        out[i, HEURISTICS.index("log_words")] = math.log1p(len(signals.words(body[:20_000]))) / math.log1p(1000)
    return out


def features(examples: Sequence[Example], embedder: str) -> np.ndarray:
    return np.hstack([embed_examples(examples, embedder).astype(np.float64), heuristic_features(examples)])


@dataclass
class QualityModel:
    """A fitted linear model over standardized features, plus what it was trained with."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, examples: Sequence[Example]) -> np.ndarray:
        X = (features(examples, self.meta["embedder"]) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(X @ self.coef + self.intercept)))

    def store(self, folder: str | Path) -> Path:
        from sft_select.io.atomic import atomic_path, write_json

        folder = Path(folder)
        with atomic_path(folder / "quality_model.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, coef=self.coef, intercept=np.array([self.intercept]), mean=self.mean, scale=self.scale)
        write_json(folder / "quality_model.json", self.meta)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> "QualityModel":
        """From the folder `save` wrote (or its quality_model.json); checks format and embedder."""
        path = Path(path)
        folder = path.parent if path.suffix == ".json" else path
        meta_path, arrays_path = folder / "quality_model.json", folder / "quality_model.npz"
        if not meta_path.exists() or not arrays_path.exists():
            raise ConfigError(f"quality_model.path: {folder} holds no trained model (quality_model.json and "
                              "quality_model.npz); train one with `sft-select train-quality`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(arrays_path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("coef", "intercept", "mean", "scale")}
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"quality_model.path: {folder}: unreadable model: {exc}") from None
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"quality_model.path: {meta_path} is not an sft-select quality model "
                              f"(format {FORMAT} v{FORMAT_VERSION})")
        dim = int(meta["dim"])
        if any(arrays[k].shape != (dim,) for k in ("coef", "mean", "scale")):
            raise ConfigError(f"quality_model.path: {arrays_path}: array shapes do not match dim={dim}")
        now = get_embedder(meta["embedder"]).fingerprint
        if now != meta["embedder_fingerprint"]:
            raise ConfigError(f"quality_model.path: {folder} was trained on embeddings of "
                              f"{meta['embedder_fingerprint']}, but '{meta['embedder']}' now loads {now}; retrain it")
        return cls(arrays["coef"], float(arrays["intercept"][0]), arrays["mean"], arrays["scale"], meta)


def train_quality_model(good: Sequence[Example], bad: Sequence[Example], *, embedder: str, C: float = 1.0,
                        folds: int = 5, seed: int = 0) -> QualityModel:
    """Fit on good (1) and bad (0) examples; the meta records a cross-validated AUC and accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    if len(good) < 2 or len(bad) < 2:
        raise ConfigError(f"train-quality needs at least 2 good and 2 bad examples (got {len(good)} and {len(bad)})")
    examples = list(good) + list(bad)
    X = features(examples, embedder)
    y = np.r_[np.ones(len(good)), np.zeros(len(bad))].astype(int)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature is left unscaled rather than divided by zero
    Xs = (X - mean) / scale

    def fit(rows: np.ndarray) -> Any:
        return LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(Xs[rows], y[rows])

    k = int(min(folds, len(good), len(bad)))
    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(Xs, y):
        oof[test] = fit(train).predict_proba(Xs[test])[:, 1]
    clf = fit(np.arange(len(y)))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "embedder": embedder,
            "embedder_fingerprint": get_embedder(embedder).fingerprint, "heuristic_features": list(HEURISTICS),
            "dim": int(X.shape[1]), "C": C, "seed": seed, "good": len(good), "bad": len(bad),
            "cv": {"folds": k, "auc": round(float(roc_auc_score(y, oof)), 4),
                   "accuracy": round(float(accuracy_score(y, oof >= 0.5)), 4)}}
    return QualityModel(clf.coef_[0].copy(), float(clf.intercept_[0]), mean, scale, meta)


@register
class QualityModelView(View):
    name = "quality_model"
    group = "quality"
    version = "1"
    default_on = False  # needs a model path: only when named
    conformance_skip = ("needs a model file from `sft-select train-quality`; "
                        "tests/views/test_quality_model.py runs the shared contract checks on a trained one")

    def __init__(self, *, path: str | None = None):
        """`path`: the folder `sft-select train-quality --out` wrote."""
        self.path = path

    def model_files(self) -> list[Path]:
        if self.path is None:
            return []
        folder = Path(self.path).parent if Path(self.path).suffix == ".json" else Path(self.path)
        return [folder / "quality_model.json", folder / "quality_model.npz"]

    def skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        if not self.path:
            return ("quality_model needs a trained model: run `sft-select train-quality --good FILE --bad FILE "
                    "--out DIR`, then set views.settings.quality_model.params.path: DIR")
        return None

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "QualityModelView":
        if not self.path:
            raise ConfigError("quality_model: no model path given (views.settings.quality_model.params.path)")
        self.model_ = QualityModel.load(self.path)
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        p = self.model_.predict(batch)
        return ViewResult(p, [f"P(good)={v:.2f} by the trained quality model" for v in p.tolist()])
