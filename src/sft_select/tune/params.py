"""One search over the settings a selection strategy declares tunable (`selection.strategies.TUNABLE`).

A strategy's settings are not weights: the loop tries them last, at the chosen weights and τ. How much of each
class to leave out (`coverage.trim`), how much the score steers coverage within a class
(`coverage.mix`), or how readily active skips a doubted label (`active.skip`) suits one pool and not another,
and only the validation file can tell (docs/selection.md). The values to try come from the `tune` section
(`TuneConfig.grid_for`); every combination is tried, the configured values first on each axis.

Settings that give the same S as one already tried (coverage.mix under a view order, a skip that never fires)
cost no fit (the objective's memo) and tie with it, so the choice below keeps the one that changes fewer values.

Choice: with `best`, the highest f (ties: the configured values first, then the grid order); with `one_se`,
among the settings within one standard error of the best f, the least intervention: the fewest values
changed from the configured ones, then the higher f. A grid of many points has a maximum biased upwards by the
tune part's noise, and the rule stops that bias from moving the settings.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any, Sequence

from sft_select.tune.objective import Objective, Point


def se(f: float, n: int) -> float:
    """Binomial standard error of a share f measured on n rows (0 when f is not a share or n is 0)."""
    return (f * (1.0 - f) / n) ** 0.5 if n > 0 and 0.0 <= f <= 1.0 else 0.0


def point_se(p: Point, n: int) -> float:
    """A point's standard error: measured over the validation rows when the proxy gives them, else binomial."""
    return p.se if p.se is not None else se(p.f, n)


def settings_label(setting: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())


def grid_points(objective: Objective, grid: dict[str, Sequence]) -> list[dict[str, Any]]:
    """Every combination of the listed values (the configured value first on each axis), the configured
    setting first; only the fields listed in `grid` vary."""
    sel = objective.select
    fields = list(grid)
    axes = [list(dict.fromkeys([sel.setting(k), *grid[k]])) for k in fields]
    return [dict(zip(fields, values)) for values in product(*axes)]


def choose_params(objective: Objective, current: Point, grid: dict[str, Sequence], *, choose: str,
                  round: int) -> tuple[Point, dict[str, Any], list[Point]]:
    """(chosen point, its values of the grid's fields, the points tried); `current` is the configured setting's
    point, measured before."""
    settings = grid_points(objective, grid)
    given = settings[0]
    by: list[tuple[dict[str, Any], Point]] = [(given, current)]
    tried: list[Point] = []
    for setting in settings[1:]:
        variant = replace(objective, select=objective.select.with_settings(setting))
        point = variant(current.weights, current.threshold, label=settings_label(setting), round=round,
                        phase="settings")
        by.append((setting, point))
        tried.append(point)
    changed = [sum(setting[k] != given[k] for k in given) for setting, _ in by]
    if choose != "one_se":
        k = max(range(len(by)), key=lambda i: (by[i][1].f, -i))
    else:
        top = max(by, key=lambda sp: sp[1].f)[1]
        band = top.f - point_se(top, len(objective.validation))
        k = min((i for i in range(len(by)) if by[i][1].f >= band), key=lambda i: (changed[i], -by[i][1].f, i))
    return by[k][1], by[k][0], tried
