"""τ sweep: for fixed weights, place τ where S_τ holds a given share of N, train on each S_τ, keep the best.

The curve f(S_τ) against |S_τ| is the method's main diagnostic: rising to the right means more data
helps more than the score's filtering (take a lower τ); peaking inside means the score is removing
harmful examples. Shares rather than raw τ values make the points comparable across weight vectors.
"""
from __future__ import annotations

from sft_select.tune.objective import Objective, Point


def thresholds(objective: Objective, weights: dict[str, float], shares: list[float], cap: int) -> list[float]:
    """τ per share: the combined score of the ⌈share·N⌉-th best candidate (deduplicated, best first)."""
    ranked = objective.ranked_scores(weights)
    out: list[float] = []
    for share in sorted(shares):
        m = max(1, min(len(ranked), int(round(share * cap))))
        tau = float(ranked[m - 1]) if len(ranked) else 0.0
        if tau not in out:
            out.append(tau)
    return out


def sweep(objective: Objective, weights: dict[str, float], shares: list[float], cap: int, *,
          round: int = 0) -> list[Point]:
    points = []
    for tau in thresholds(objective, weights, shares, cap):
        points.append(objective(weights, min(1.0, max(0.0, tau)), label=f"τ={tau:.4f}", round=round,
                                phase="sweep"))
    return points


def best(points: list[Point]) -> Point:
    """Highest f; a tie goes to the larger S (more data is the safer bet at equal validation score)."""
    return max(points, key=lambda p: (p.f, p.size))


def one_se(points: list[Point], n_validation: int, equal: dict[str, float]) -> Point:
    """The 1-standard-error rule: the simplest point whose f is within one SE of the best.

    SE is the best point's standard error over the validation rows when the proxy gives per-row outcomes,
    else the binomial standard error sqrt(f(1 − f)/n) of the best f, which applies when f is a share in
    [0, 1] (accuracy, macro-F1 as an approximation); otherwise, or with no validation rows, the best point
    is returned. "Simplest" is the largest S (least filtering), then the weights nearest the equal mix
    (least tuned), then the higher f.
    """
    top = best(points)
    if top.se is not None:  # measured over the rows (any metric with per-row outcomes)
        se = top.se
    elif n_validation < 1 or not 0.0 <= top.f <= 1.0:
        return top
    else:
        se = (top.f * (1.0 - top.f) / n_validation) ** 0.5
    near = [p for p in points if p.f >= top.f - se]

    def distance(p: Point) -> float:
        return sum(abs(p.weights.get(k, 0.0) - v) for k, v in equal.items())

    return min(near, key=lambda p: (-p.size, round(distance(p), 9), -p.f))
