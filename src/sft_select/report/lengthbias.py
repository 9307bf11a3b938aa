"""How much each view's score just tracks length: Spearman ρ between every view (and the combined score)
and the example's length.

LLM judges and learned scorers are known to reward longer answers; a view whose ranking is mostly the
ranking by length selects long examples, whatever its name says. |ρ| ≥ 0.5 flags it.

Length is the score table's `chars` (characters of the prompt and response, or of the text). The table
holds no token count: the report's token estimate (coverage.py) is computed from the input texts, which
a run directory may no longer have, while `chars` is always there. Each view is correlated through its
normalized column (1 = best), so ρ > 0 reads "longer examples score better" for every view, including
those where lower raw values are better. Rows a view did not score (NaN) are left out of its ρ; at most
MAX_ROWS of them are used, a seeded sample, so the cost does not grow with the pool.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sft_select.core.ranks import average_ranks
from sft_select.report.viewstats import _view_meta, num
from sft_select.scoring.table import view_names

TRACKS_LENGTH = 0.5  # |ρ| from which a score "mostly tracks length"
MAX_ROWS = 20_000
LENGTH = "characters of the example's content (prompt and response, or text): the score table's `chars`"


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ of two NaN-free arrays (Pearson on average ranks); NaN when either is constant."""
    if len(x) < 3:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    # Sums of products rather than `@`: a BLAS dot product is slow on a loaded machine, where OpenBLAS's
    # threads wait for cores; these short sums need no threads.
    den = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    return float((rx * ry).sum()) / den if den > 0 else math.nan


def _best_is_high(table: pd.DataFrame, view: str) -> np.ndarray:
    """A view's values with 1 = best: its normalized column, or (a run stopped after scoring) its raw
    values turned round when lower is better."""
    if view in table:
        return table[view].to_numpy(dtype=float)
    raw = table[f"{view}_raw"].to_numpy(dtype=float)
    return raw if _view_meta(view)["higher_is_better"] else -raw


def _entry(values: np.ndarray, length: np.ndarray, seed: int, max_rows: int) -> dict[str, Any]:
    rows = np.flatnonzero(np.isfinite(values) & np.isfinite(length))
    scored = len(rows)
    if scored > max_rows:  # a fresh generator per column: a view's sample does not depend on the others
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    x, y = values[rows], length[rows]
    rho = num(spearman(x, y), 3)
    entry = {"rho": rho, "n": int(len(rows)), "n_scored": scored,
             "tracks_length": rho is not None and abs(rho) >= TRACKS_LENGTH}
    if rho is None:
        entry["why"] = ("fewer than 3 scored rows" if len(rows) < 3 else
                        "the score is the same for every scored row" if np.ptp(x) == 0 else
                        "every scored example has the same length")
    return entry


def length_correlation(table: pd.DataFrame, *, seed: int = 0, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """ρ with length for every view in the score table and for the combined score.

    `views` maps each view to {rho, n (rows used), n_scored, tracks_length, and `why` when rho is None};
    `score` is the same for the combined score (None when the run has none); `flagged` names those with
    |ρ| ≥ TRACKS_LENGTH.
    """
    out: dict[str, Any] = {"length": LENGTH, "method": "spearman", "threshold": TRACKS_LENGTH,
                           "max_rows": max_rows, "seed": seed, "views": {}, "score": None, "flagged": []}
    if "chars" not in table:
        out["skipped"] = "the score table has no `chars` column"
        return out
    length = table["chars"].to_numpy(dtype=float)
    for name in view_names(table):
        out["views"][name] = _entry(_best_is_high(table, name), length, seed, max_rows)
    if "score" in table:
        out["score"] = _entry(table["score"].to_numpy(dtype=float), length, seed, max_rows)
    out["flagged"] = [n for n, e in out["views"].items() if e["tracks_length"]]
    if out["score"] is not None and out["score"]["tracks_length"]:
        out["flagged"].append("score")
    return out


def length_warning(section: dict[str, Any] | None) -> str | None:
    """The one terminal line for flagged scores (plain text, the caller escapes it), or None."""
    flagged = (section or {}).get("flagged") or []
    if not flagged:
        return None

    def rho(name: str) -> Any:
        entry = section["score"] if name == "score" else section["views"][name]
        return entry["rho"]

    names = ", ".join(f"{'the combined score' if n == 'score' else n} (ρ = {rho(n)})" for n in flagged)
    verb = "tracks" if len(flagged) == 1 else "track"
    return f"{names} mostly {verb} length (Spearman |ρ| ≥ {section['threshold']} with characters; see the report)"
