"""f(weights, τ): combine the cached view scores with `weights`, select under the cap N with threshold τ,
train the proxy on S and score it on the tuning part of the validation file.

Nothing is re-scored: combine and select run on the score table in milliseconds; only the proxy fit
costs time, and a subset already evaluated (same ids) is not trained again: in this process, nor, with a
cache folder, in a later one (tune/evaluations.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

from sft_select.core.record import Example
from sft_select.evaluate.base import Proxy, ProxyScore
from sft_select.preprocess.clusters import resolve
from sft_select.selection.combine import ViewWeight, combine
from sft_select.selection.config import SelectConfig
from sft_select.selection.finalize import finalize
from sft_select.selection.strategies import Context
from sft_select.tune.evaluations import Evaluations


@dataclass
class Point:
    """One evaluated configuration: a point of the τ curve or of the weight search trace."""

    weights: dict[str, float]
    threshold: float | None
    size: int
    f: float
    metrics: dict[str, float]
    label: str = ""
    round: int = 0
    phase: str = ""
    seconds: float = 0.0
    ids: list[str] = field(default_factory=list, repr=False)
    se: float | None = None  # standard error of f over the validation rows, when the proxy gives per-row outcomes

    def as_dict(self) -> dict:
        return {"round": self.round, "phase": self.phase, "label": self.label,
                "weights": {k: round(v, 6) for k, v in self.weights.items()},
                "threshold": None if self.threshold is None else round(self.threshold, 6),
                "size": self.size, "f": round(self.f, 6),
                "se": None if self.se is None else round(self.se, 6),
                "metrics": {k: round(v, 6) for k, v in self.metrics.items()}, "seconds": round(self.seconds, 3)}


@dataclass
class Objective:
    table: pd.DataFrame  # the scored table (with <view>_raw columns), before combine
    specs: list[ViewWeight]
    select: SelectConfig  # strategy and the cap N; the threshold is what the sweep sets
    proxy: Proxy
    examples: dict[str, Example]
    validation: Sequence[Example]
    ctx: Context
    keep: str = "best"
    weights_policy: str = "normalize"
    seed: int = 0
    # The evaluations made so far, shared by the variants `dataclasses.replace` makes (another strategy, other
    # settings): one memo, one count, one cache.
    evals: Evaluations = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.evals is None:
            self.evals = Evaluations()

    @property
    def evaluations(self) -> int:
        """Distinct proxy evaluations so far (computed or read from the cache)."""
        return self.evals.distinct

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def _specs(self, weights: dict[str, float]) -> list[ViewWeight]:
        return [replace(s, weight=float(weights.get(s.name, 0.0))) for s in self.specs]

    def ranked_scores(self, weights: dict[str, float]) -> np.ndarray:
        """Combined scores of the candidates under `weights`, best first (where a τ can be placed)."""
        t = self.table.drop(columns=[c for c in ("score", "selected", "kept_id") if c in self.table]).copy()
        t["reason"] = t["filter_reason"]
        t, _ = combine(t, self._specs(weights), self.weights_policy)
        t = resolve(t, self.keep)
        s = t.loc[t["reason"].isna(), "score"].dropna().to_numpy()
        return np.sort(s)[::-1]

    def subset(self, weights: dict[str, float], threshold: float | None) -> list[str]:
        cfg = self.select.model_copy(update={"threshold": threshold})
        t, _ = finalize(self.table, self._specs(weights), cfg, keep=self.keep, weights_policy=self.weights_policy,
                        seed=self.seed, ctx=self.ctx)
        return t.loc[t["selected"].astype(bool), "id"].tolist()

    def fit(self, ids: Sequence[str]) -> ProxyScore:
        return self.evals.score(self.proxy, ids, self.examples, self.validation, part="tune", seed=self.seed)

    def fit_on(self, ids: Sequence[str], validation: Sequence[Example], part: str) -> ProxyScore:
        """f(S) on another part of the validation file (the holdout)."""
        return self.evals.score(self.proxy, ids, self.examples, validation, part=part, seed=self.seed)

    def __call__(self, weights: dict[str, float], threshold: float | None, *, label: str = "", round: int = 0,
                 phase: str = "") -> Point:
        start = time.perf_counter()
        ids = self.subset(weights, threshold)
        score = self.fit(ids) if ids else ProxyScore(float("-inf"), {}, 0)
        return Point(dict(weights), threshold, len(ids), score.value, score.metrics, label, round, phase,
                     time.perf_counter() - start, ids, standard_error(score.per_row))


def standard_error(per_row: np.ndarray | None) -> float | None:
    """The standard error of a mean over validation rows (None without per-row outcomes)."""
    if per_row is None or len(per_row) < 2:
        return None
    return float(np.std(per_row, ddof=1) / np.sqrt(len(per_row)))
