"""The funnel: how many examples came in, how many each step dropped and why, how many were selected.

Every dropped row carries a reason string (`duplicate_exact`, `not_selected: rank 61 > N=60`,
`floor: quality_heuristic below 0.2`, a filter's name...). The funnel groups them by the reason's
category, the text before the first colon, so steps added later (new filters, decontamination, other
selectors) show up under their own names without the report knowing them.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

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


class Categories:
    """The reason category of every row of a column, as a code per row (-1: no reason) into `names` (each
    the category of at least one row), so counts and tests run once per category rather than per row."""

    def __init__(self, codes: np.ndarray, names: list[str], index: pd.Index):
        self.codes, self.names, self.index = codes, names, index

    def series(self) -> pd.Series:
        """Per row, the category string or None."""
        table = np.array([*self.names, None], dtype=object)
        return pd.Series(table[self.codes], index=self.index, dtype=object)

    def rows(self, test: Callable[[str], bool]) -> np.ndarray:
        """Per row, whether it has a category and the category passes `test`."""
        return np.array([*map(test, self.names), False], dtype=bool)[self.codes]

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Rows per category (under `mask`), largest first, ties by name: `value_counts` of `series()`."""
        codes = self.codes if mask is None else self.codes[mask]
        per_code = np.bincount(codes[codes >= 0], minlength=len(self.names))
        return {k: int(v) for k, v in sorted(zip(self.names, per_code.tolist()), key=lambda kv: (-kv[1], kv[0]))
                if v}


def categories(reasons: pd.Series) -> pd.Series:
    """`reason_category` over a column (except that an empty category stays empty)."""
    return categorize(reasons).series()


def categorize(reasons: pd.Series) -> Categories:
    """The `Categories` of a column. A category depends only on the text before the first colon, except
    for floors: Arrow cuts every reason there in C and Python strips each distinct head once (rather
    than a Python call per row: reasons like `not_selected: rank 61 > N=60` are all distinct). Columns
    Arrow cannot hold as text (numbers mixed in, lone surrogates) go row by row."""
    from pandas.api.types import infer_dtype

    kind = infer_dtype(reasons, skipna=True)
    if kind == "empty":
        return Categories(np.full(len(reasons), -1, dtype=np.int64), [], reasons.index)
    if kind == "string":
        try:
            return _categorize_arrow(reasons)
        except UnicodeEncodeError:  # a lone surrogate: Arrow holds UTF-8 only
            pass
    return _categorize_rows(reasons)


def _categorize_arrow(reasons: pd.Series) -> Categories:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(reasons, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    parts = pc.split_pattern(arr, ":", max_splits=1)
    heads = pc.list_element(parts, 0).dictionary_encode()
    head_codes = heads.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    head_names = heads.dictionary.to_pylist()
    # `_category` of a reason is its stripped head, but a floor (stripped text starts with "floor:")
    # keeps the view name after the colon: those rows alone are categorized in full.
    floor_heads = np.array([h.lstrip() == "floor" for h in head_names] + [False], dtype=bool)
    floor_rows = np.flatnonzero(floor_heads[head_codes] & (pc.list_value_length(parts).fill_null(0)
                                                            .to_numpy(zero_copy_only=False) > 1))
    row_names = [h.strip() for h in head_names]
    floor_names = [_category(t) for t in arr.take(pa.array(floor_rows)).to_pylist()]
    names, to_code = np.unique(np.array(row_names + floor_names, dtype=object), return_inverse=True)
    codes = np.append(to_code[:len(row_names)], -1)[head_codes]
    codes[floor_rows] = to_code[len(row_names):len(row_names) + len(floor_rows)]
    # A head whose rows were all floors names no row: drop it (and renumber), as groupby would not show it.
    used = np.bincount(codes[codes >= 0], minlength=len(names)) > 0
    codes = np.append(np.cumsum(used) - 1, -1)[codes]
    return Categories(codes, names[used].tolist(), reasons.index)


def _categorize_rows(reasons: pd.Series) -> Categories:
    """One `_category` call per distinct reason."""
    present = reasons.notna().to_numpy()
    values = reasons.to_numpy(dtype=object)
    memo: dict[str, int] = {}
    names: dict[str, int] = {}
    codes = np.full(len(values), -1, dtype=np.int64)
    for i in np.flatnonzero(present).tolist():
        key = str(values[i])
        code = memo.get(key)
        if code is None:
            code = memo[key] = names.setdefault(_category(key), len(names))
        codes[i] = code
    return Categories(codes, list(names), reasons.index)


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
    contam = has_filter & categorize(filt).rows(_is_contamination)
    out[has_filter] = "filtered"
    out[contam] = "decontaminated"
    out[table["selected"].fillna(False).astype(bool).to_numpy()] = "selected"
    return out


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
    has_filt = "filter_reason" in table
    filt = categorize(table["filter_reason"]) if has_filt else None
    contam = filt.rows(_is_contamination) if filt is not None else None
    rest = table["filter_reason"].isna().to_numpy() if has_filt else np.ones(len(table), dtype=bool)
    cat = categorize(table["reason"])  # counted over `rest`: rows a filter dropped count there only
    is_dup = cat.rows(lambda c: c.startswith("duplicate"))
    is_floor = cat.rows(lambda c: c.startswith("floor:"))
    chosen = table["selected"].fillna(False).astype(bool).to_numpy()
    final = rest & ~is_dup & ~is_floor
    no_reason = int((final & (cat.codes < 0) & ~chosen).sum())

    steps: list[tuple[str, dict[str, int], bool]] = [
        ("readable", {"unreadable": unreadable} if unreadable else {}, True),
        ("passed filters", filt.counts(~contam) if filt is not None else {}, True),
        ("passed decontamination", filt.counts(contam) if filt is not None else {}, _configured(cfg, "contam")),
        ("unique after dedup", cat.counts(rest & is_dup), True),
        ("passed floors", cat.counts(rest & is_floor), _floors_configured(cfg)),
        ("selected", {**cat.counts(final), **({"no selection made": no_reason} if no_reason else {})}, True),
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
        "selected": int(chosen.sum()),
        "consistent": stages[-1]["count"] == int(chosen.sum()),  # False would mean a reason the funnel misread
    }


def reason_examples(table: pd.DataFrame, per_reason: int = 3) -> dict[str, list[dict[str, Any]]]:
    """A few dropped rows per reason category, in input order, to show what each reason looks like."""
    reason = table["reason"].where(table["reason"].notna(), table.get("filter_reason"))
    cats = categorize(reason)
    kept = table["kept_id"] if "kept_id" in table else pd.Series(None, index=table.index, dtype=object)
    labels = table.index.to_numpy()
    out: dict[str, list[dict[str, Any]]] = {}
    for code in sorted(range(len(cats.names)), key=cats.names.__getitem__):  # as groupby orders its groups
        first = np.sort(labels[cats.codes == code])[:per_reason]
        out[str(cats.names[code])] = [{"id": str(table.at[i, "id"]), "reason": str(reason.at[i]),
                                       "kept_id": kept.at[i] if isinstance(kept.at[i], str) else None}
                                      for i in first.tolist()]
    return out
