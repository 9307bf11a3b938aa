"""Search the weight simplex for the view mix that maximizes f(S).

Round one tries every single view (a vertex), the equal mix, and `trials` Dirichlet(α) draws. Later
rounds draw around the best so far (Dirichlet with mean at the best weights and a concentration that
grows each round), which is how the validation result adjusts the weights. `optuna` runs a seeded TPE
search instead, started from the same points. Every draw comes from one seeded generator.
"""
from __future__ import annotations

import numpy as np

from sft_select.tune.objective import Objective, Point
from sft_select.tune.sweep import best


def _as_dict(names: list[str], w: np.ndarray) -> dict[str, float]:
    w = np.maximum(w, 0.0)
    w = w / w.sum() if w.sum() > 0 else np.full(len(names), 1.0 / len(names))
    return {n: float(x) for n, x in zip(names, w)}


def starting_points(names: list[str]) -> list[tuple[str, dict[str, float]]]:
    out = [(f"only {n}", {m: float(m == n) for m in names}) for n in names] if len(names) > 1 else []
    out.append(("equal", {n: 1.0 / len(names) for n in names}))
    return out


def draws(names: list[str], centre: dict[str, float] | None, round: int, trials: int, alpha: float,
          rng: np.random.Generator) -> list[tuple[str, dict[str, float]]]:
    k = len(names)
    if centre is None:
        conc = np.full(k, alpha)
    else:
        # Mean at the current best; total concentration 5k, 10k, ... narrows the search each round.
        c = np.array([centre[n] for n in names])
        conc = np.maximum(c * 5.0 * k * round, 0.05)
    return [(f"dirichlet r{round}", _as_dict(names, rng.dirichlet(conc))) for _ in range(trials)]


def search_dirichlet(objective: Objective, threshold: float | None, *, round: int, trials: int, alpha: float,
                     centre: dict[str, float] | None, rng: np.random.Generator) -> list[Point]:
    names = objective.names
    todo = starting_points(names) if centre is None else [("current best", centre)]
    if len(names) > 1:
        todo += draws(names, centre, round, trials, alpha, rng)
    return [objective(w, threshold, label=label, round=round, phase="weights") for label, w in todo]


def search_optuna(objective: Objective, threshold: float | None, *, round: int, trials: int,
                  centre: dict[str, float] | None, seed: int) -> list[Point]:
    import optuna

    names = objective.names
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed + round))
    start = starting_points(names) if centre is None else [("current best", centre)]
    for _, w in start:
        # Exponential spacings map the unit cube onto the simplex: u = exp(-w) gives back w after normalizing.
        study.enqueue_trial({f"u_{n}": float(np.exp(-8.0 * w[n])) for n in names})
    points: list[Point] = []

    def run(trial) -> float:
        u = np.array([trial.suggest_float(f"u_{n}", 1e-6, 1.0) for n in names])
        p = objective(_as_dict(names, -np.log(u)), threshold, label=f"optuna r{round}", round=round,
                      phase="weights")
        points.append(p)
        return p.f if np.isfinite(p.f) else -1e9

    study.optimize(run, n_trials=len(start) + (trials if len(names) > 1 else 0))
    return points


def search(objective: Objective, threshold: float | None, *, method: str, round: int, trials: int, alpha: float,
           centre: dict[str, float] | None, rng: np.random.Generator, seed: int) -> tuple[Point, list[Point]]:
    if method == "optuna":
        points = search_optuna(objective, threshold, round=round, trials=trials, centre=centre, seed=seed)
    else:
        points = search_dirichlet(objective, threshold, round=round, trials=trials, alpha=alpha, centre=centre,
                                  rng=rng)
    return best(points), points
