"""The coverage strategy's own settings, chosen by the loop after the weights and τ: group_trim × cover_mix.

How much of each class to leave out (`group_trim`) depends on how noisy the labels are, and how much the
combined score should steer the coverage inside a class (`cover_mix`) on how saturated the classes are:
on 20news-noisy (~110 picks from ~560 posts a class) pure coverage won, on imdb (3,000 picks from 7,500
reviews a class) pure coverage ran out of dense regions and picked isolated reviews, where a small mix
of the score was level with random (docs/benchmarks.md, "Selection case study"). Only the validation
file can tell which regime a pool is in, so the loop tries the grid at the chosen weights and τ.

Choice: with `best`, the highest f; with `one_se`, among the settings within one binomial standard error
of the best f, the least intervention: the smallest trim, then the mix nearest the configured one.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Sequence

from sft_select.tune.objective import Objective, Point


def se(f: float, n: int) -> float:
    """Binomial standard error of a share f measured on n rows (0 when f is not a share or n is 0)."""
    return (f * (1.0 - f) / n) ** 0.5 if n > 0 and 0.0 <= f <= 1.0 else 0.0


def choose_settings(objective: Objective, current: Point, trims: Sequence[float], mixes: Sequence[float], *,
                    choose: str, round: int) -> tuple[Point, float, float, list[Point]]:
    """(chosen point, its group_trim, its cover_mix, the points tried). `current` is the configured setting."""
    given_trim, given_mix = objective.select.group_trim, objective.select.cover_mix
    grid = sorted(set(product(sorted(set(trims) | {given_trim}) if trims else [given_trim],
                              sorted(set(mixes) | {given_mix}) if mixes else [given_mix])))
    by: dict[tuple[float, float], Point] = {(given_trim, given_mix): current}
    tried: list[Point] = []
    for trim, mix in grid:
        if (trim, mix) in by:
            continue
        variant = replace(objective, select=objective.select.model_copy(update={"group_trim": trim,
                                                                                 "cover_mix": mix}))
        # The memo is shared, so a setting that gives the same S as another costs no fit.
        by[(trim, mix)] = variant(current.weights, current.threshold, label=f"group_trim={trim} cover_mix={mix}",
                                  round=round, phase="settings")
        objective.evaluations = variant.evaluations
        tried.append(by[(trim, mix)])
    top_f = max(p.f for p in by.values())
    band = top_f - (se(top_f, len(objective.validation)) if choose == "one_se" else 0.0)
    near = [k for k, p in by.items() if p.f >= band]
    trim, mix = min(near, key=lambda k: (k[0], abs(k[1] - given_mix), k[1]))
    return by[(trim, mix)], trim, mix, tried
