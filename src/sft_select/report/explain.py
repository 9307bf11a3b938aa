"""`sft-select explain RUN_DIR ID`: why one example was kept or dropped.

For one example: each view's raw value, normalized score, weight and contribution to the combined score
(and how that contribution compares with the selected examples' mean, which names the view that held it
back), its duplicate cluster and which member was kept, its rank, and the reason it carries.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sft_select.core.errors import InputError
from sft_select.core.textsafe import clip
from sft_select.report.funnel import statuses
from sft_select.report.rundata import RunData
from sft_select.report.viewstats import num
from sft_select.scoring.table import view_names

SHOWN_MATCHES = 10  # ids an ambiguous prefix lists


def find_row(data: RunData, query: str) -> int:
    """Row position of an id, or of the one id starting with `query` (at least 4 characters)."""
    ids = data.table["id"].astype(str)
    exact = np.flatnonzero((ids == query).to_numpy())
    if exact.size:
        return int(exact[0])
    where = str(data.run_dir / "scores.parquet")
    if len(query) >= 4:
        prefix = np.flatnonzero(ids.str.startswith(query).to_numpy())
        if prefix.size == 1:
            return int(prefix[0])
        if prefix.size > 1:
            some = ", ".join(clip(i, 40) for i in ids.iloc[prefix[:SHOWN_MATCHES]])
            more = f", and {prefix.size - SHOWN_MATCHES} more" if prefix.size > SHOWN_MATCHES else ""
            raise InputError(where, f"'{clip(query)}' matches {prefix.size} ids: {some}{more}; "
                             "give more characters")
    raise InputError(where, f"no example with id '{clip(query)}' "
                            "(ids are in selected/rejected rows and scores.parquet)")


def _verdict(row: pd.Series, status: str, rank: int | None, n_cand: int, cut: float | None, keep: str) -> str:
    reason = None if pd.isna(row.get("reason")) else str(row["reason"])
    score = num(row.get("score"))
    if status == "selected":
        where = f"rank {rank} of {n_cand} candidates by combined score" if rank else "selected"
        cut_note = (f" (score {score:.3f}; the lowest selected score is {cut:.3f})"
                    if score is not None and cut is not None else "")
        return f"kept: {where}" + cut_note
    if status in ("filtered", "decontaminated"):
        return f"dropped by preprocessing before scoring: {row.get('filter_reason')}"
    if status == "duplicate":
        why = "it scored higher" if keep == "best" else "it comes first in the input"
        return f"dropped as a duplicate ({reason}): {row.get('kept_id')} was kept in its place because {why}"
    if status == "vetoed (floor)":
        return f"dropped by a floor, whatever its combined score: {reason}"
    if reason is None:
        return "not selected: this run stopped after scoring"
    if score is None or cut is None:
        return f"dropped: {reason}"
    if score < cut:
        return f"dropped: {reason} (score {score:.3f} < the lowest selected score {cut:.3f})"
    # A strategy that picks within groups (coverage, quota, stratified) or skips near-copies leaves out
    # rows that score above some it keeps: no single cut explains them, the reason does.
    return (f"dropped: {reason} (score {score:.3f}, above the lowest selected score {cut:.3f}: this strategy "
            "does not select by one cut)")


def explain(data: RunData, query: str) -> dict[str, Any]:
    table = data.table
    i = find_row(data, query)
    row = table.iloc[i]
    status = statuses(table)
    selected = table["selected"].fillna(False).astype(bool).to_numpy()
    weights = (data.manifest.get("views") or {}).get("weights") or {}
    cand = np.isin(status, ["selected", "not selected"])  # the rows that competed in the selection step
    scores = table["score"].to_numpy(dtype=float)
    order = np.flatnonzero(cand & np.isfinite(scores))
    order = order[np.lexsort((table["id"].to_numpy()[order], -scores[order]))]
    rank = int(np.flatnonzero(order == i)[0]) + 1 if i in set(order.tolist()) else None
    cut = num(scores[selected].min()) if selected.any() else None

    views = []
    for name in view_names(table):
        contrib_col = f"{name}_contrib"
        sel_mean = num(table.loc[selected, contrib_col].mean()) if contrib_col in table and selected.any() else None
        contrib = num(row.get(contrib_col))
        views.append({"view": name, "raw": num(row.get(f"{name}_raw")), "normalized": num(row.get(name)),
                      "weight": num(weights.get(name)), "contribution": contrib,
                      "vs_selected_mean": (round(contrib - sel_mean, 6)
                                           if contrib is not None and sel_mean is not None else None),
                      "reason": None if pd.isna(row.get(f"{name}_reason")) else str(row.get(f"{name}_reason"))})
    gaps = [v for v in views if v["vs_selected_mean"] is not None]
    weakest = min(gaps, key=lambda v: v["vs_selected_mean"])["view"] if gaps and not selected[i] else None

    dup = None
    cluster = row.get("dup_cluster")
    if isinstance(cluster, str):
        members = np.flatnonzero((table["dup_cluster"] == cluster).to_numpy())
        # The example asked about and the member kept in its place lead the (truncated) list.
        kept_id = row.get("kept_id")
        kept = np.flatnonzero((table["id"] == kept_id).to_numpy()).tolist() if isinstance(kept_id, str) else []
        first = [i, *kept]
        members = np.array([*dict.fromkeys([*first, *members.tolist()])], dtype=np.int64) if members.size else members
        dup = {"cluster": cluster, "kind": None if pd.isna(row.get("dup_kind")) else str(row.get("dup_kind")),
               "size": int(members.size),
               "members": [{"id": str(table.at[j, "id"]), "status": str(status[j]), "score": num(table.at[j, "score"])}
                           for j in members[:12]]}
    keep = str(((data.config.get("preprocess") or {}).get("keep")) or "best")
    text = data.text(str(row["id"]))
    out = {
        "id": str(row["id"]), "source": str(row.get("source")), "row": int(row.get("row", -1)),
        "label": None if pd.isna(row.get("label")) else str(row.get("label")), "chars": int(row.get("chars", 0)),
        "status": str(status[i]), "selected": bool(selected[i]),
        "reason": None if pd.isna(row.get("reason")) else str(row["reason"]),
        "filter_reason": None if pd.isna(row.get("filter_reason")) else str(row["filter_reason"]),
        "kept_id": row.get("kept_id") if isinstance(row.get("kept_id"), str) else None,
        "score": num(row.get("score")), "rank": rank, "candidates": int(order.size), "cut": cut,
        "views": views, "held_back_most_by": weakest, "duplicates": dup,
        "text": text[:2000] if text is not None else None,
    }
    for col in table.columns:
        if col.endswith("_cluster") and col != "dup_cluster" and not pd.isna(row.get(col)):
            out[col] = str(row[col])
    out["verdict"] = _verdict(row, out["status"], rank, out["candidates"], cut, keep)
    return out
