"""How many proxy evaluations a tune will make, counted from its settings before the first one, phase by
phase as tune/loop.py makes them.

The count is an upper bound: a subset asked for twice (the τ sweep's point at the full N is often a point
of the weight search) is evaluated once, and a strategy the data cannot run is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sft_select.tune.objective import Objective
from sft_select.tune.params import grid_points


@dataclass
class Plan:
    phases: dict[str, int] = field(default_factory=dict)  # phase -> evaluations, in the loop's order

    @property
    def total(self) -> int:
        return sum(self.phases.values())

    def describe(self) -> str:
        return ", ".join(f"{n} {phase}" for phase, n in self.phases.items() if n)


def searches_weights(objective: Objective, min_rows_weights: int) -> bool:
    """Whether the loop searches the weights: not on a tune part under `min_rows_weights` rows (tune/loop.py)."""
    return not (len(objective.validation) < min_rows_weights and len(objective.names) > 1)


def plan(objective: Objective, *, rounds: int, trials: int, shares: Sequence[float], random_seeds: int,
         strategies: Sequence[str] = (), grids: dict[str, dict[str, Sequence]] | None = None,
         min_rows_weights: int = 0, holdout: int = 0, guard: bool = True) -> Plan:
    """The evaluations `run_loop` makes with these arguments, `holdout` being the holdout part's rows."""
    k, grids = len(objective.names), grids or {}
    draws = trials if k > 1 else 0
    rounds_n = []
    if searches_weights(objective, min_rows_weights):
        for r in range(rounds):
            starts = (k + 1 if k > 1 else 1) if r == 0 else 1  # vertices and the equal mix; then the best so far
            rounds_n.append(starts + draws + len(shares))
    else:
        rounds_n.append(len(shares))

    def settings(name: str) -> int:
        return len(grid_points(objective, grids[name])) - 1 if grids.get(name) else 0

    given = objective.select.strategy
    others = [s for s in dict.fromkeys(strategies) if s != given]
    phases = {"initial": 1,
              f"in {len(rounds_n)} round{'s' if len(rounds_n) > 1 else ''} ("
              + " + ".join(map(str, rounds_n)) + ")": sum(rounds_n),
              "strategy settings and strategies": settings(given) + sum(1 + settings(s) for s in others),
              "random-subset and whole-pool baselines": random_seeds + 1}
    if holdout:
        # initial, best, the random subsets and the whole pool; the guard adds the stratified sample (its
        # other candidates are those); the LM proxy adds the base model's loss.
        phases["on the holdout" + (", guard included" if guard else "")] = (
            random_seeds + 3 + int(guard) + int(hasattr(objective.proxy, "base_loss")))
    return Plan(phases)
