"""Class balance: report how skewed a labelled set is, weigh classes for a trainer, resample to a target.

Selection by score drifts toward whatever class is easiest; these make the drift visible (the report
goes into tune.json for the pool and for S) and correctable: `class_weights` for the proxy trainer,
`resample` to reach a target class mix, and the `quota` strategy to select with the mix fixed.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from sft_select.core.errors import ConfigError


def imbalance_report(labels: Sequence[str | None]) -> dict:
    """Counts and shares per class, the max/min ratio, and normalized entropy (1 = perfectly balanced)."""
    counts = Counter(lab for lab in labels if lab is not None)
    total = sum(counts.values())
    if not counts:
        return {"classes": 0, "examples": 0}
    shares = {k: v / total for k, v in sorted(counts.items())}
    k = len(counts)
    entropy = -sum(p * math.log(p) for p in shares.values() if p > 0)
    return {
        "classes": k,
        "examples": total,
        "counts": dict(sorted(counts.items())),
        "shares": {c: round(p, 6) for c, p in shares.items()},
        "ratio_max_min": round(max(counts.values()) / min(counts.values()), 4),
        "entropy_norm": round(entropy / math.log(k), 6) if k > 1 else 1.0,
        # A class under half its fair share is the one a score-sorted selection tends to drop.
        "minority": sorted(c for c, p in shares.items() if p < 0.5 / k),
    }


def class_weights(labels: Sequence[str]) -> dict[str, float]:
    """Inverse-frequency weights n / (k · count_c): the mean weight per example is 1."""
    counts = Counter(labels)
    n, k = sum(counts.values()), len(counts)
    return {c: n / (k * v) for c, v in sorted(counts.items())}


def _apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder rounding of total × share, summing to total exactly."""
    raw = {c: total * p for c, p in shares.items()}
    out = {c: int(math.floor(v)) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: (-(raw[c] - out[c]), c))[: total - sum(out.values())]:
        out[c] += 1
    return out


def target_shares(target: str | Mapping[str, float], classes: Sequence[str]) -> dict[str, float]:
    if target == "uniform":
        return {c: 1.0 / len(classes) for c in classes}
    if isinstance(target, str):
        raise ConfigError(f"balance target: 'uniform' or a mapping class -> share, got '{target}'")
    unknown = set(target) - set(classes)
    if unknown:
        raise ConfigError(f"balance target: unknown class(es) {sorted(unknown)}; classes are {sorted(classes)}")
    total = sum(target.values())
    if total <= 0 or any(v < 0 for v in target.values()):
        raise ConfigError("balance target: shares must be non-negative and not all zero")
    return {c: target.get(c, 0.0) / total for c in classes}


def resample(ids: Sequence[str], labels: Sequence[str], target: str | Mapping[str, float] = "uniform", *,
             size: int | None = None, seed: int = 0, replace: bool = True) -> list[str]:
    """Ids drawn to reach the target class mix; `ids` come in priority order (best first).

    A class with more than its share keeps its first (best) members; one with fewer is oversampled with
    repeats when `replace` (seeded), else it gives what it has and the total comes out smaller.
    """
    by_class: dict[str, list[str]] = {}
    for i, lab in zip(ids, labels):
        by_class.setdefault(lab, []).append(i)
    shares = target_shares(target, sorted(by_class))
    want = _apportion(len(ids) if size is None else size, shares)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for c in sorted(by_class):
        have = by_class[c]
        n = want.get(c, 0)
        out.extend(have[:n])
        if n > len(have) and replace and have:
            out.extend(have[j] for j in rng.integers(0, len(have), n - len(have)))
    return out
