"""The coverage strategy's own settings, chosen by the loop after the weights and τ: group_trim × cover_mix
× group_order.

How much of each class to leave out (`group_trim`) depends on how noisy the labels are, and how much the
combined score should steer the coverage inside a class (`cover_mix`) on how saturated the classes are:
on 20news-noisy (~110 picks from ~560 posts a class) pure coverage won, on imdb (3,000 picks from 7,500
reviews a class) pure coverage ran out of dense regions and picked isolated reviews, where a small mix
of the score was level with random (docs/benchmarks.md, "Selection case study"). Only the validation
file can tell which regime a pool is in, so the loop tries the grid at the chosen weights and τ. The same
holds for `group_order` (facility location, or a view such as difficulty_margin: hardest first): keeping
the hard examples pays when a class has many rows to choose from, the easy and typical ones when it has
few (Sorscher et al. 2022, "Beyond neural scaling laws").

Choice: with `best`, the highest f; with `one_se`, among the settings within one binomial standard error
of the best f, the least intervention: the smallest trim, then the configured order, then the mix nearest
the configured one.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Callable, Sequence

from sft_select.errors import ConfigError
from sft_select.progress import info
from sft_select.tune.objective import Objective, Point


def se(f: float, n: int) -> float:
    """Binomial standard error of a share f measured on n rows (0 when f is not a share or n is 0)."""
    return (f * (1.0 - f) / n) ** 0.5 if n > 0 and 0.0 <= f <= 1.0 else 0.0


Refine = Callable[[str, Objective, Point], "tuple[Point, list[Point]]"]
Setting = tuple[float, float, "str | None"]  # (group_trim, cover_mix, group_order)


def label(setting: Setting) -> str:
    trim, mix, order = setting
    return f"group_trim={trim} " + (f"group_order={order}" if order else f"cover_mix={mix}")


def choose_settings(objective: Objective, current: Point, trims: Sequence[float], mixes: Sequence[float],
                    orders: Sequence[str | None] = (), *, choose: str,
                    round: int) -> tuple[Point, Setting, list[Point]]:
    """(chosen point, its (group_trim, cover_mix, group_order), the points tried); `current` is the configured
    setting's point. cover_mix only matters under facility location, so a view order is tried once per trim."""
    sel = objective.select
    given: Setting = (sel.group_trim, sel.cover_mix, sel.group_order)
    grid = {given}
    for trim, order in product(set(trims) | {sel.group_trim}, set(orders) | {sel.group_order}):
        for mix in (set(mixes) | {sel.cover_mix}) if order is None else [sel.cover_mix]:
            grid.add((trim, mix, order))
    by: dict[Setting, Point] = {given: current}
    tried: list[Point] = []
    for setting in sorted(grid, key=lambda k: (k[0], k[1], k[2] or "")):
        if setting in by:
            continue
        trim, mix, order = setting
        variant = replace(objective, select=sel.model_copy(update={"group_trim": trim, "cover_mix": mix,
                                                                   "group_order": order}))
        # The memo is shared, so a setting that gives the same S as another costs no fit.
        by[setting] = variant(current.weights, current.threshold, label=label(setting), round=round,
                              phase="settings")
        objective.evaluations = variant.evaluations
        tried.append(by[setting])
    top_f = max(p.f for p in by.values())
    band = top_f - (se(top_f, len(objective.validation)) if choose == "one_se" else 0.0)
    near = [k for k, p in by.items() if p.f >= band]
    chosen = min(near, key=lambda k: (k[0], k[2] != given[2], k[2] or "", abs(k[1] - given[1]), k[1]))
    return by[chosen], chosen, tried


def choose_strategy(objective: Objective, current: Point, strategies: Sequence[str], *, choose: str,
                    round: int, refine: Refine | None = None) -> tuple[Point, str, list[Point]]:
    """(chosen point, its strategy, the points tried): each strategy of `strategies` at the chosen weights
    and τ, against the configured one (`current`). Which strategy wins depends on the pool: on the case
    study's noisy 20news, coverage and active were level, on imdb active won (docs/benchmarks.md,
    "Selection case study"), and only the validation file can tell. A strategy this data cannot run
    (active without labels) is skipped with its message. Choice: with `best`, the highest f (ties: the
    larger S); with `one_se`, among the strategies within one standard error of the best f, the configured
    one, else the first in `strategies`. `refine(name, variant, point)` -> (point, points tried) lets a
    strategy's own settings be chosen before it is compared (the active grid, tune/active_settings.py), so a
    strategy is not judged by its default settings alone; the configured strategy was refined before."""
    given = objective.select.strategy
    by: dict[str, Point] = {given: current}
    tried: list[Point] = []
    for name in strategies:
        if name in by:
            continue
        variant = replace(objective, select=objective.select.model_copy(update={"strategy": name}))
        try:
            by[name] = variant(current.weights, current.threshold, label=f"strategy={name}", round=round,
                               phase="strategy")
        except ConfigError as exc:
            info(f"  strategy {name} skipped: {exc}")
            continue
        finally:
            objective.evaluations = variant.evaluations
        tried.append(by[name])
        if refine is not None:
            try:
                by[name], more = refine(name, variant, by[name])
            finally:
                objective.evaluations = variant.evaluations
            tried += more
    if choose != "one_se":
        chosen = max(by, key=lambda k: (by[k].f, by[k].size))
    else:
        top_f = max(p.f for p in by.values())
        order = [given, *strategies]
        chosen = min((k for k, p in by.items() if p.f >= top_f - se(top_f, len(objective.validation))),
                     key=order.index)
    return by[chosen], chosen, tried
