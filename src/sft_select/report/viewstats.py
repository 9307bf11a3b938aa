"""Per-view figures: histograms of raw values split selected / not, top and bottom examples, and the
correlation between views.

Histograms use raw values, not the normalized ones: with the default rank normalization the normalized
scores are uniform by construction, so only the raw values show a view's shape. All statistics are
computed on every row; only the map samples.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from sft_select.core.ranks import average_ranks
from sft_select.scoring.table import view_names

REDUNDANT = 0.8  # |Spearman ρ| from which two views are flagged as measuring the same thing


def num(x: Any, digits: int = 6) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if np.isfinite(v) else None


def histogram(values: np.ndarray, selected: np.ndarray, bins: int = 40) -> dict[str, list]:
    """Counts per bin for selected and other rows; NaNs are left out."""
    ok = np.isfinite(values)
    v, s = values[ok], selected[ok]
    if v.size == 0:
        return {"edges": [], "selected": [], "other": []}
    n_bins = int(max(1, min(bins, np.unique(v).size)))
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, n_bins + 1)
    sel, _ = np.histogram(v[s], bins=edges)
    oth, _ = np.histogram(v[~s], bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "selected": sel.tolist(), "other": oth.tolist()}


def _stats(values: np.ndarray, selected: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(values)
    v = values[ok]
    if v.size == 0:
        return dict.fromkeys(("min", "max", "mean", "median", "mean_selected", "mean_rest"), None) | {"n": 0}
    sel, rest = v[selected[ok]], v[~selected[ok]]
    return {"n": int(v.size), "min": num(v.min()), "max": num(v.max()), "mean": num(v.mean()),
            "median": num(np.median(v)), "mean_selected": num(sel.mean()) if sel.size else None,
            "mean_rest": num(rest.mean()) if rest.size else None}


def example_row(table: pd.DataFrame, i: int, status: np.ndarray, text: Callable[[str], str | None],
                view: str | None = None) -> dict[str, Any]:
    row = table.iloc[i]
    out: dict[str, Any] = {"id": str(row["id"]), "status": str(status[i]),
                           "reason": None if pd.isna(row.get("reason")) else str(row["reason"]),
                           "score": num(row.get("score")), "snippet": snippet(text(str(row["id"])))}
    if view is not None:
        out.update(raw=num(row.get(f"{view}_raw")), norm=num(row.get(view)), contrib=num(row.get(f"{view}_contrib")),
                   view_reason=None if pd.isna(row.get(f"{view}_reason")) else str(row.get(f"{view}_reason")))
    return out


def snippet(text: str | None, n: int = 200) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _view_meta(name: str) -> dict[str, Any]:
    from sft_select.views.registry import registered

    cls = registered().get(name)
    if cls is None:  # a view from a newer version or a plugin that is not installed here
        return {"group": None, "higher_is_better": True}
    return {"group": cls.group, "higher_is_better": bool(cls.higher_is_better)}


def ranked_positions(table: pd.DataFrame, view: str, higher_is_better: bool,
                     distinct: np.ndarray | None = None) -> np.ndarray:
    """Row positions from best to worst for one view; the normalized column already has 1 = best.

    `distinct` masks the rows to rank: the report ranks one member per duplicate cluster, so a top five
    is five different examples rather than five copies of one.
    """
    col = table[view] if view in table else table[f"{view}_raw"] * (1 if higher_is_better else -1)
    vals = col.to_numpy(dtype=float)
    keep = np.isfinite(vals) if distinct is None else np.isfinite(vals) & distinct
    ok = np.flatnonzero(keep)
    order = np.lexsort((table["id"].to_numpy()[ok], -vals[ok]))  # ties by id, like selection
    return ok[order]


def ranked_ends(table: pd.DataFrame, view: str, higher_is_better: bool, distinct: np.ndarray | None,
                k: int) -> tuple[np.ndarray, np.ndarray, int]:
    """`ranked_positions`' first k, its last k (worst first) and its length, sorting only the rows that can
    be among them (those at or beyond the k-th value from each end, ties included): sorting 100k string ids
    took a third of a second per view."""
    col = table[view] if view in table else table[f"{view}_raw"] * (1 if higher_is_better else -1)
    vals = col.to_numpy(dtype=float)
    keep = np.isfinite(vals) if distinct is None else np.isfinite(vals) & distinct
    ok = np.flatnonzero(keep)
    if len(ok) <= 2 * k or k < 1:
        order = ranked_positions(table, view, higher_is_better, distinct)
        return order[:k], order[::-1][:k], len(order)
    v, ids = vals[ok], table["id"].to_numpy()

    def ranked(rows: np.ndarray) -> np.ndarray:
        return rows[np.lexsort((ids[rows], -vals[rows]))]

    top = ranked(ok[v >= np.partition(v, len(v) - k)[len(v) - k]])[:k]
    bottom = ranked(ok[v <= np.partition(v, k - 1)[k - 1]])[::-1][:k]
    return top, bottom, len(ok)


def view_summaries(table: pd.DataFrame, manifest: dict[str, Any], status: np.ndarray,
                   text: Callable[[str], str | None], *, k: int = 5) -> list[dict[str, Any]]:
    views = manifest.get("views") or {}
    weights, seconds = views.get("weights") or {}, views.get("seconds") or {}
    cached = set(views.get("cached") or [])
    selected = table["selected"].fillna(False).astype(bool).to_numpy()
    distinct = ~np.isin(status, ["duplicate", "filtered", "decontaminated"])
    out = []
    for name in view_names(table):
        meta = _view_meta(name)
        raw = table[f"{name}_raw"].to_numpy(dtype=float)
        top, bottom, ranked = ranked_ends(table, name, meta["higher_is_better"], distinct, k)
        out.append({
            "name": name, **meta, "weight": num(weights.get(name)), "seconds": num(seconds.get(name)),
            "cached": name in cached, "stats": _stats(raw, selected), "hist": histogram(raw, selected),
            "top": [example_row(table, int(i), status, text, name) for i in top],
            "bottom": [example_row(table, int(i), status, text, name) for i in bottom] if ranked > k else [],
        })
    return out


def combined_summary(table: pd.DataFrame) -> dict[str, Any]:
    selected = table["selected"].fillna(False).astype(bool).to_numpy()
    score = table["score"].to_numpy(dtype=float) if "score" in table else np.full(len(table), np.nan)
    cut = score[selected & np.isfinite(score)]
    return {"stats": _stats(score, selected), "hist": histogram(score, selected),
            "cut": num(cut.min()) if cut.size else None}


def correlation(table: pd.DataFrame) -> dict[str, Any]:
    """Spearman ρ between views over the rows every view scored; |ρ| ≥ 0.8 flags a redundant pair."""
    names = [n for n in view_names(table)]
    cols = [n if n in table else f"{n}_raw" for n in names]
    frame = table[cols].astype(float)
    if "score" in table:
        names, frame = names + ["score"], frame.assign(score=table["score"].astype(float))
    frame = frame.dropna()
    if len(names) < 2 or len(frame) < 3:
        return {"views": names, "matrix": [], "n": int(len(frame)), "redundant": [], "method": "spearman"}
    ranks = pd.DataFrame({c: average_ranks(frame[c].to_numpy()) for c in frame.columns}, index=frame.index)
    rho = ranks.corr(method="pearson").to_numpy()  # Pearson on ranks = Spearman, and fast
    rho = np.nan_to_num(rho, nan=0.0)
    redundant = [[names[i], names[j], round(float(rho[i, j]), 3)]
                 for i in range(len(names)) for j in range(i + 1, len(names))
                 if "score" not in (names[i], names[j]) and abs(rho[i, j]) >= REDUNDANT]
    return {"views": names, "matrix": [[round(float(x), 3) for x in r] for r in rho], "n": int(len(frame)),
            "redundant": redundant, "method": "spearman", "threshold": REDUNDANT}
