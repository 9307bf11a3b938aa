"""The funnel: how many examples came in, how many each step dropped and why, how many were selected.

Every dropped row carries a reason string (`duplicate_exact`, `not_selected: rank 61 > N=60`,
`floor: quality_heuristic below 0.2`, a filter's name...). The funnel groups them by the reason's
category, the text before the first colon, so steps added later (new filters, decontamination, other
selectors) show up under their own names without the report knowing them.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

STATUSES = ("selected", "not selected", "vetoed (floor)", "duplicate", "filtered", "decontaminated")


def reason_category(reason: Any) -> str | None:
    """`not_selected: rank 61 > N=60` -> `not_selected`; floors keep the view: `floor: quality_heuristic`."""
    if reason is None or (isinstance(reason, float) and np.isnan(reason)):
        return None
    text = str(reason).strip()
    if text.startswith("floor:"):
        return "floor: " + text[len("floor:"):].strip().split(" below")[0].strip()
    return text.split(":", 1)[0].strip() or text


def _category(text: str) -> str:
    text = text.strip()
    if text.startswith("floor:"):
        return "floor: " + text[len("floor:"):].split(" below", 1)[0].strip()
    return text.split(":", 1)[0].strip()


def categories(reasons: pd.Series) -> pd.Series:
    """`reason_category` over a column (except that an empty category stays empty). One Python call per
    distinct reason: pandas' string methods made a pass over 100k+ mostly unique reasons per step."""
    present = reasons.notna().to_numpy()
    values = reasons.to_numpy(dtype=object)
    memo: dict[str, str] = {}
    out = np.full(len(values), None, dtype=object)
    for i in np.flatnonzero(present).tolist():
        key = str(values[i])
        cat = memo.get(key)
        if cat is None:
            cat = memo[key] = _category(key)
        out[i] = cat
    return pd.Series(out, index=reasons.index, dtype=object)


def _is_contamination(category: str | None) -> bool:
    return isinstance(category, str) and "contam" in category.lower()


def _str(col: pd.Series) -> pd.Series:
    return col.where(col.notna(), "").astype(str)


def statuses(table: pd.DataFrame) -> np.ndarray:
    """One word per example for colours and filters: selected, duplicate, filtered, ..."""
    reason = _str(table["reason"])
    filt = _str(table["filter_reason"]) if "filter_reason" in table else pd.Series("", index=table.index)
    out = np.full(len(table), "not selected", dtype=object)
    out[reason.str.startswith("floor:").to_numpy()] = "vetoed (floor)"
    out[reason.str.startswith("duplicate").to_numpy()] = "duplicate"
    has_filter = (filt != "").to_numpy()
    contam = has_filter & categories(filt).map(_is_contamination).to_numpy(dtype=bool)
    out[has_filter] = "filtered"
    out[contam] = "decontaminated"
    out[table["selected"].fillna(False).astype(bool).to_numpy()] = "selected"
    return out


def _counts(categories: pd.Series) -> dict[str, int]:
    vc = categories.dropna().value_counts()
    return {str(k): int(v) for k, v in sorted(vc.items(), key=lambda kv: (-kv[1], kv[0]))}


def _configured(cfg: Mapping[str, Any], word: str) -> bool:
    """Whether any enabled config key mentions `word` (decontamination shows as a stage only when on)."""
    def walk(obj: Any) -> bool:
        if isinstance(obj, dict):
            return any((word in str(k).lower() and bool(v)) or walk(v) for k, v in obj.items())
        return False

    return walk(cfg.get("preprocess", {}))


def _floors_configured(cfg: Mapping[str, Any]) -> bool:
    settings = (cfg.get("views") or {}).get("settings") or {}
    return any(isinstance(s, dict) and s.get("floor") is not None for s in settings.values())


def funnel(table: pd.DataFrame, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Stages in pipeline order; each has the count that went on and the drops per reason category."""
    counts = manifest.get("counts") or {}
    cfg = manifest.get("config") or {}
    unreadable = int(counts.get("unreadable", 0) or 0)
    filt_cat = categories(table["filter_reason"]) if "filter_reason" in table else pd.Series(dtype=object)
    contam = filt_cat.map(_is_contamination).astype(bool) if len(filt_cat) else filt_cat
    rest = table.loc[table["filter_reason"].isna()] if "filter_reason" in table else table
    cat = categories(rest["reason"])
    is_dup = cat.fillna("").str.startswith("duplicate")
    is_floor = cat.fillna("").str.startswith("floor:")
    selected = int(table["selected"].fillna(False).astype(bool).sum())
    final = cat[~is_dup & ~is_floor]
    no_reason = int((final.isna() & ~rest["selected"].fillna(False).astype(bool)).sum())

    steps: list[tuple[str, dict[str, int], bool]] = [
        ("readable", {"unreadable": unreadable} if unreadable else {}, True),
        ("passed filters", _counts(filt_cat[~contam]) if len(filt_cat) else {}, True),
        ("passed decontamination", _counts(filt_cat[contam]) if len(filt_cat) else {},
         _configured(cfg, "contam")),
        ("unique after dedup", _counts(cat[is_dup]), True),
        ("passed floors", _counts(cat[is_floor]), _floors_configured(cfg)),
        ("selected", {**_counts(final), **({"no selection made": no_reason} if no_reason else {})}, True),
    ]
    n = int(counts.get("rows_read", len(table) + unreadable) or 0)
    stages = [{"stage": "rows read", "count": n, "dropped": {}}]
    for name, dropped, always in steps:
        if not always and not dropped:
            continue
        n -= sum(dropped.values())
        stages.append({"stage": name, "count": n, "dropped": dropped})
    by_reason: dict[str, int] = {}
    for st in stages:
        for k, v in st["dropped"].items():
            by_reason[k] = by_reason.get(k, 0) + v
    return {
        "stages": stages,
        "by_reason": by_reason,
        "rows_read": stages[0]["count"],
        "examples": len(table),
        "scored": int(table["score"].notna().sum()) if "score" in table else 0,
        "selected": selected,
        "consistent": stages[-1]["count"] == selected,  # False would mean a reason the funnel misread
    }


def reason_examples(table: pd.DataFrame, per_reason: int = 3) -> dict[str, list[dict[str, Any]]]:
    """A few dropped rows per reason category, in input order, to show what each reason looks like."""
    reason = table["reason"].where(table["reason"].notna(), table.get("filter_reason"))
    cats = categories(reason)
    kept = table["kept_id"] if "kept_id" in table else pd.Series(None, index=table.index, dtype=object)
    out: dict[str, list[dict[str, Any]]] = {}
    for category, idx in cats.dropna().groupby(cats.dropna()).groups.items():
        out[str(category)] = [{"id": str(table.at[i, "id"]), "reason": str(reason.at[i]),
                               "kept_id": kept.at[i] if isinstance(kept.at[i], str) else None}
                              for i in sorted(idx)[:per_reason]]
    return out
