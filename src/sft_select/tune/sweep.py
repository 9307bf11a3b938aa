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
