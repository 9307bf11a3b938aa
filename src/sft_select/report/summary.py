"""summary.json: every figure the report shows, as plain JSON, computed from the run directory.

The HTML page is drawn from this dictionary only (plus hover texts for the map), so a script can read
the same numbers the page shows. Statistics use every row; only the map's points are a sample.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sft_select.report.coverage import coverage
from sft_select.report.embedmap import build_map
from sft_select.report.funnel import funnel, reason_examples, statuses
from sft_select.report.lengthbias import length_correlation
from sft_select.report.rundata import RunData
from sft_select.report.tune import read_tune
from sft_select.report.viewstats import combined_summary, correlation, snippet, view_summaries

SCHEMA = 1


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Rows per status, by status name: hashed by pandas (np.unique sorted 100k Python strings)."""
    counts = pd.Series(status, dtype=object).value_counts(sort=False)
    return {str(s): int(n) for s, n in sorted(counts.items())}


def build_summary(data: RunData, *, max_points: int = 5000, with_map: bool = True) -> dict[str, Any]:
    table, manifest = data.table, data.manifest
    status = statuses(table)
    seed = int(manifest.get("seed") or 0)
    if with_map:
        emap = build_map(table, status, data.examples, data.target, model=data.embedding_model,
                         max_points=max_points, seed=seed)
    else:
        emap = {"skipped": "not asked for"}
    examples = reason_examples(table)
    for rows in examples.values():
        for row in rows:
            row["snippet"] = snippet(data.text(row["id"]))
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "run": {"dir": str(data.run_dir), "status": manifest.get("status"), "seed": seed,
                "inputs": [e.get("path") for e in manifest.get("inputs", []) if isinstance(e, dict)],
                "target": (manifest.get("target") or {}).get("path"),
                "n_target": len(data.target), "texts_available": data.examples is not None},
        "funnel": funnel(table, manifest),
        "reason_examples": examples,
        "status_counts": status_counts(status),
        "score": combined_summary(table),
        "views": view_summaries(table, manifest, status, data.text),
        "skipped_views": (manifest.get("views") or {}).get("skipped") or {},
        "correlation": correlation(table),
        "length_correlation": length_correlation(table, seed=seed),
        "map": {k: v for k, v in emap.items() if k != "coverage_clusters"},
        "coverage": coverage(table, status, data.texts, emap.get("coverage_clusters")),
        "tune": read_tune(data.tune),
        "manifest": {key: manifest.get(key) for key in
                     ("config", "versions", "timings", "reselect_timings", "steps", "views", "counts", "platform",
                      "inputs", "target", "pool_fingerprint", "guard")},
        "notes": list(data.notes),
    }
    # No clock time and no report timing: the same run gives the same summary.json and report.html, byte
    # for byte (only the manifest's own step timings vary between runs).
    summary["report"] = {"max_points": max_points}
    return summary
