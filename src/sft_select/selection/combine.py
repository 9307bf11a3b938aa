"""Combine: normalize each view's raw values to [0, 1], then score(x) = Σ w_i·g_i(x) with Σ w_i = 1.

Normalization is computed over the candidates only (rows a preprocessing step dropped keep NaN), so a
filtered-out outlier cannot squash everyone else's scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.core.ranks import average_ranks


@dataclass(frozen=True)
class ViewWeight:
    name: str
    weight: float | None  # None: share of what the explicit weights leave
    normalize: str = "rank"
    higher_is_better: bool = True
    floor: float | None = None


def normalize(raw: np.ndarray, method: str, higher_is_better: bool = True) -> np.ndarray:
    """Map finite raw values to [0, 1] (1 = best); NaN stays NaN."""
    out = np.full(raw.shape, np.nan)
    ok = np.isfinite(raw)
    vals = raw[ok] if higher_is_better else -raw[ok]
    if vals.size == 0:
        return out
    if method == "rank":
        # Average ranks: ties share a score, and the result does not depend on outliers' magnitude.
        # The same numbers as pandas' and scipy.stats.rankdata's average rank, in half pandas' time.
        ranks = average_ranks(vals)
        out[ok] = (ranks - 1) / max(vals.size - 1, 1) if vals.size > 1 else 1.0
    elif method == "minmax":
        lo, hi = vals.min(), vals.max()
        out[ok] = (vals - lo) / (hi - lo) if hi > lo else 1.0
    elif method == "zscore":
        sd = vals.std()
        z = (vals - vals.mean()) / sd if sd > 0 else np.zeros_like(vals)
        out[ok] = 1.0 / (1.0 + np.exp(-z))  # logistic squashing keeps [0, 1] with z's shape
    else:
        raise ConfigError(f"unknown normalization '{method}'; use rank, minmax or zscore")
    return out


def resolve_weights(specs: list[ViewWeight], policy: str = "normalize") -> dict[str, float]:
    """Weights summing to 1. Unset weights share equally what the set ones leave (all equal if none set)."""
    if not specs:
        return {}
    explicit = {s.name: float(s.weight) for s in specs if s.weight is not None}
    bad = {n: w for n, w in explicit.items() if not np.isfinite(w) or w < 0}
    if bad:
        name, w = next(iter(bad.items()))
        raise ConfigError(f"views.settings.{name}.weight: {w!r} is not a weight; weights are finite numbers >= 0")
    unset = [s.name for s in specs if s.weight is None]
    total = sum(explicit.values())  # may overflow to inf: only compared, never divided by
    # Strict: the set weights must sum to 1, or to at most 1 when unset views share the rest.
    if policy == "strict" and (total > 1.0 + 1e-9 if unset else not np.isclose(total, 1.0)):
        raise ConfigError(f"view weights sum to {total:g}, not 1 (combine.weights: strict); "
                          f"weights: {explicit}")
    if unset:
        rest = max(0.0, 1.0 - total) if total <= 1.0 else 0.0
        share = rest / len(unset) if rest > 0 else (0.0 if explicit else 1.0 / len(unset))
        weights = {**explicit, **{n: share for n in unset}}
    else:
        weights = dict(explicit)
    # Divided by the largest first, so weights near the float maximum (1e308 + 1e308 = inf) still
    # normalize to their ratios instead of to 0.
    top = max(weights.values())
    if top <= 0:
        raise ConfigError("view weights are all zero: give at least one view a positive weight")
    scaled = {n: w / top for n, w in weights.items()}
    s = sum(scaled.values())
    return {n: w / s for n, w in scaled.items()}


def combine(table: pd.DataFrame, specs: list[ViewWeight],
            policy: str = "normalize") -> tuple[pd.DataFrame, dict[str, float]]:
    """Add `<view>` (normalized), `<view>_contrib` and `score`; apply floors as vetoes."""
    table = table.copy()
    weights = resolve_weights(specs, policy)
    candidates = table["reason"].isna().to_numpy()
    score = np.zeros(len(table))
    for spec in specs:
        raw = table[f"{spec.name}_raw"].to_numpy(dtype=float).copy()
        raw[~candidates] = np.nan
        norm = normalize(raw, spec.normalize, spec.higher_is_better)
        table[spec.name] = norm
        contrib = weights[spec.name] * np.nan_to_num(norm, nan=0.0)
        table[f"{spec.name}_contrib"] = np.where(np.isnan(norm), np.nan, contrib)
        score += contrib
    table["score"] = np.where(candidates, score, np.nan) if specs else np.where(candidates, 0.0, np.nan)
    for spec in specs:
        if spec.floor is None:
            continue
        below = candidates & (table[spec.name].to_numpy() < spec.floor)
        table.loc[below, "reason"] = f"floor: {spec.name} below {spec.floor}"
    return table, weights
