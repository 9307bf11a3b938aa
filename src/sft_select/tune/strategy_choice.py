"""Choosing among selection strategies: each of `tune.strategies` is tried at the chosen weights and τ against
the configured one, after its own settings were chosen (tune/params.py)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from sft_select.core.errors import ConfigError
from sft_select.core.progress import info
from sft_select.tune.objective import Objective, Point
from sft_select.tune.params import point_se

Refine = Callable[[str, Objective, Point], "tuple[Point, list[Point]]"]


def choose_strategy(objective: Objective, current: Point, strategies: Sequence[str], *, choose: str,
                    round: int, refine: Refine | None = None) -> tuple[Point, str, list[Point]]:
    """(chosen point, its strategy, the points tried): each strategy of `strategies` at the chosen weights
    and τ, against the configured one (`current`). Which strategy wins depends on the pool: on the case
    study's noisy 20news, coverage and active were level, on imdb active won (docs/benchmarks.md,
    "Selection case study"), and only the validation file can tell. A strategy this data cannot run
    (active without labels) is skipped with its message. Choice: with `best`, the highest f (ties: the
    larger S); with `one_se`, among the strategies within one standard error of the best f, the configured
    one, else the first in `strategies`. `refine(name, variant, point)` -> (point, points tried) lets a
    strategy's own settings be chosen before it is compared (tune/params.py), so a
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
        tried.append(by[name])
        if refine is not None:
            by[name], more = refine(name, variant, by[name])
            tried += more
    if choose != "one_se":
        chosen = max(by, key=lambda k: (by[k].f, by[k].size))
    else:
        top = max(by.values(), key=lambda q: q.f)
        band = top.f - point_se(top, len(objective.validation))
        order = [given, *strategies]
        chosen = min((k for k, p in by.items() if p.f >= band), key=order.index)
    return by[chosen], chosen, tried
