"""The active strategy's own settings, chosen by the loop at the chosen weights and τ: active_seed ×
active_batch × active_skip × active_C × active_score (selection/active.py).

The weights reach `active` only through τ; what decides its S is how the classifier that orders the pool is
set: how much of S is a random start (`active_seed`), how many rows each refit adds (`active_batch`), how
readily a row whose label that classifier doubts is skipped (`active_skip`: on a pool with many flipped
labels a strict guard keeps them out, on a clean one it throws away hard, correct rows), and how closely
the classifier fits S (`active_C`). The case study's validation splits moved by up to ~2 points between
these variants, in no direction that held across pools (docs/benchmarks.md, "Selection case study", run
5), so which ones suit a pool is for its validation file to say, as for coverage's settings
(tune/settings.py).

Choice: with `best`, the highest f (ties: the configured values first, then the grid order); with
`one_se`, among the settings within one binomial standard error of the best f, the least intervention:
the fewest values changed from the configured ones, then the higher f. A grid of many points has a
maximum biased upwards by the tune part's noise, and the rule stops that bias from moving the settings.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Sequence

from sft_select.tune.objective import Objective, Point
from sft_select.tune.settings import se

FIELDS = ("active_seed", "active_batch", "active_skip", "active_C", "active_score")
ActiveSetting = tuple  # values of FIELDS, in that order


def active_label(setting: ActiveSetting) -> str:
    return " ".join(f"{k}={v}" for k, v in zip(FIELDS, setting))


def active_grid(objective: Objective, grid: dict[str, Sequence]) -> list[ActiveSetting]:
    """Every combination of the listed values (a field not listed keeps its configured value), the configured
    setting first."""
    sel = objective.select
    given = tuple(getattr(sel, k) for k in FIELDS)
    axes = [list(dict.fromkeys([getattr(sel, k), *grid.get(k, ())])) for k in FIELDS]
    return [given, *(s for s in product(*axes) if s != given)]


def has_grid(grid: dict[str, Sequence] | None) -> bool:
    return bool(grid) and any(grid.get(k) for k in FIELDS)


def choose_active(objective: Objective, current: Point, grid: dict[str, Sequence], *, choose: str,
                  round: int) -> tuple[Point, ActiveSetting, list[Point]]:
    """(chosen point, its values of FIELDS, the points tried): `objective.select.strategy` must be active and
    `current` its point at the configured settings."""
    settings = active_grid(objective, grid)
    given = settings[0]
    by: dict[ActiveSetting, Point] = {given: current}
    tried: list[Point] = []
    for setting in settings[1:]:
        variant = replace(objective, select=objective.select.model_copy(update=dict(zip(FIELDS, setting))))
        # The memo is shared, so settings that give the same S (e.g. a skip that never fires) cost no fit.
        try:
            by[setting] = variant(current.weights, current.threshold, label=active_label(setting), round=round,
                                  phase="active_settings")
        finally:
            objective.evaluations = variant.evaluations
        tried.append(by[setting])
    changed = {s: sum(a != b for a, b in zip(s, given)) for s in by}
    order = {s: k for k, s in enumerate(settings)}
    if choose != "one_se":
        chosen = max(by, key=lambda s: (by[s].f, -order[s]))
    else:
        top_f = max(p.f for p in by.values())
        band = top_f - se(top_f, len(objective.validation))
        chosen = min((s for s, p in by.items() if p.f >= band), key=lambda s: (changed[s], -by[s].f, order[s]))
    return by[chosen], chosen, tried
