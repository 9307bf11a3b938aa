"""Read `tune.json` tolerantly into the shape the report draws.

Expected (the tune step writes it):
  {"metric": "accuracy",
   "sweep": [{"tau": 0.4, "size": 120, "f": 0.71}, ...],            # f(S_τ) along the τ curve
   "trace": [{"trial": 0, "weights": {...}, "f": 0.69}, ...],        # the weight search
   "baselines": {"random": [{"size": 120, "f": [0.6, 0.62]}], "whole_pool": 0.7},
   "best": {...}}
Entries missing a numeric f are skipped; a baseline may be a number, a list of repeats or {"f": ...}.
Anything unreadable only costs the part it belongs to, never the report.
"""
from __future__ import annotations

import math
from typing import Any


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)) and math.isfinite(x):
        return float(x)
    return None


def _values(x: Any) -> list[float]:
    """A baseline's f: a number, a list of repeats, or a dict holding either under f/mean/values."""
    if isinstance(x, dict):
        for key in ("f", "values", "mean", "score"):
            if key in x:
                return _values(x[key])
        return []
    if isinstance(x, (list, tuple)):
        return [v for v in (_num(i) for i in x) if v is not None]
    v = _num(x)
    return [] if v is None else [v]


def _sweep(items: Any) -> list[dict[str, Any]]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and _num(item.get("f")) is not None:
            out.append({"tau": _num(item.get("tau")), "size": _num(item.get("size")), "f": _num(item["f"])})
    return out


def _trace(items: Any) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and _num(item.get("f")) is not None:
            trial = _num(item.get("trial"))
            weights = item.get("weights") if isinstance(item.get("weights"), dict) else {}
            out.append({"trial": int(trial) if trial is not None else i, "f": _num(item["f"]),
                        "weights": {str(k): _num(v) for k, v in weights.items()}})
    return out


def _random(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, dict):  # {"120": [..], ...} keyed by size
        items = [{"size": k, "f": v} for k, v in items.items()]
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            size = float(item.get("size"))
        except (TypeError, ValueError):
            continue
        vals = _values(item.get("f", item))
        if vals and math.isfinite(size):
            mean = sum(vals) / len(vals)
            out.append({"size": size, "mean": mean, "min": min(vals), "max": max(vals), "n": len(vals)})
    return sorted(out, key=lambda r: r["size"])


def read_tune(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    baselines = obj.get("baselines") if isinstance(obj.get("baselines"), dict) else {}
    whole = _values(baselines.get("whole_pool", baselines.get("full")))
    out = {
        "metric": str(obj.get("metric") or "f"),
        "sweep": _sweep(obj.get("sweep")),
        "trace": _trace(obj.get("trace")),
        "random": _random(baselines.get("random")),
        "whole_pool": sum(whole) / len(whole) if whole else None,
        "best": obj.get("best") if isinstance(obj.get("best"), dict) else None,
    }
    out["empty"] = not out["sweep"] and not out["trace"]
    return out
