"""The guard: never write a selection that the run's own held-out data says is worse than random.

After the search, each candidate S (the tuned selection, the untuned configured one, and the stratified
fallback: selection/stratified.py) is trained with the proxy and scored on the holdout part of the
validation file, which the search never read, beside random subsets of the same size (several seeds) and
the whole pool. The uncertainty is a paired bootstrap over the holdout rows: each row's outcome under S (1/0
for accuracy, its coverage for the coverage proxy) minus its mean outcome under the random subsets,
resampled `resamples` times; a candidate beats random when the lower `alpha` quantile of that mean
difference is above 0. The tuned S is kept when it beats random; else the configured S when it does; else
the stratified fallback, and the run says so. A proxy with no per-row outcomes (the LM proxy) is judged by
its f alone: a candidate must be above every random subset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

PREFERENCE = ("tuned", "configured", "stratified")  # the order in which beating candidates are kept


@dataclass
class Candidate:
    name: str
    ids: list[str]
    f: float | None = None
    per_row: np.ndarray | None = None


def paired_bootstrap(diff: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `diff` over `resamples` bootstrap resamples of its rows (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    return diff[idx].mean(axis=1)


def decide(candidates: Sequence[Candidate], randoms: Sequence[Candidate], whole: Candidate | None, *,
           resamples: int = 2000, alpha: float = 0.1, seed: int = 0) -> dict:
    """The guard's decision and every candidate's figures (the `guard` section of tune.json and the manifest)."""
    rows: list[dict] = []
    rand_f = [r.f for r in randoms if r.f is not None]
    paired = bool(randoms) and all(c.per_row is not None for c in [*candidates, *randoms])
    base = np.mean([r.per_row for r in randoms], axis=0) if paired else None
    for c in candidates:
        row = {"name": c.name, "size": len(c.ids), "f_holdout": _r(c.f)}
        if paired:
            diff = c.per_row - base
            boot = paired_bootstrap(diff, resamples, seed)
            low, high = np.quantile(boot, [alpha, 1 - alpha])
            row.update(vs_random=_r(float(diff.mean())), low=_r(float(low)), high=_r(float(high)),
                       beats_random=bool(low > 0))
        else:
            row.update(vs_random=_r(c.f - float(np.mean(rand_f))) if rand_f and c.f is not None else None,
                       low=None, high=None,
                       beats_random=bool(rand_f) and c.f is not None and c.f > max(rand_f))
        if whole is not None and whole.f is not None and c.f is not None:
            row["vs_whole_pool"] = _r(c.f - whole.f)
        rows.append(row)
    beating = [r for r in rows if r["beats_random"]]
    chosen = next((r for name in PREFERENCE for r in beating if r["name"] == name), None)
    if chosen is not None:
        decision = chosen["name"]
        why = f"the {decision} selection beats random subsets of its size on the holdout"
    else:
        decision = "stratified"
        why = ("no candidate beats random subsets of its size by more than the holdout's uncertainty: the stratified "
               "sample (random within class and cluster, flagged rows out) is written instead")
    return {"decision": decision, "reason": why, "candidates": rows,
            "random": {"seeds": len(randoms), "f_holdout": _r(float(np.mean(rand_f))) if rand_f else None,
                       "f_holdout_sd": _r(float(np.std(rand_f))) if rand_f else None},
            "whole_pool": {"size": len(whole.ids), "f_holdout": _r(whole.f)} if whole is not None else None,
            "method": (f"paired bootstrap over the holdout rows ({resamples} resamples), S kept when the "
                       f"{alpha:.0%} quantile of its mean gain over random subsets is above 0") if paired else
                      "the proxy gives no per-row outcomes: S kept when its f is above every random subset's",
            }


def verdict_line(guard: dict, proxy: str) -> str:
    """One line for the terminal: the written S against random subsets and the whole pool, and the decision."""
    chosen = next(c for c in guard["candidates"] if c["name"] == guard["decision"])
    parts = [f"S ({guard['decision']}) {chosen['f_holdout']:.4f}"]
    if guard["random"]["f_holdout"] is not None:
        parts.append(f"random subsets of |S| {guard['random']['f_holdout']:.4f}")
    if guard.get("whole_pool") and guard["whole_pool"]["f_holdout"] is not None:
        parts.append(f"whole pool {guard['whole_pool']['f_holdout']:.4f}")
    ci = (f"; gain over random {chosen['vs_random']:+.4f} [{chosen['low']:+.4f}, {chosen['high']:+.4f}]"
          if chosen.get("low") is not None else "")
    return f"guard ({proxy} proxy, holdout): " + ", ".join(parts) + ci + f". {guard['reason']}"


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)
