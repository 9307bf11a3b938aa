"""Exact, near (and optionally semantic) dedup and decontamination on their own: `sft-select dedup`, or
`sft_select.dedup` from Python.

No scoring: the first member of each duplicate cluster (in input order) is kept. Writes a run-like folder:

  OUT/kept.<fmt>       the kept rows, in the input's own format
  OUT/rejected.jsonl   every row that left, with its reason and, for duplicates, the id of the kept row
  OUT/clusters.parquet id, duplicate cluster, kind, reason and kept_id of every example
  OUT/manifest.json    inputs, config, per-step counts and times, versions; written last
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rich.markup import escape

from sft_select.config.schema import Config, dump_config
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.progress import Timer, info
from sft_select.io.atomic import atomic_open, atomic_path
from sft_select.io.load import Rejected, load
from sft_select.io.writers import output_type, write_rejected, write_rows
from sft_select.preprocess.clusters import resolve
from sft_select.preprocess.run import run_preprocess
from sft_select.rundir.folder import prepare
from sft_select.rundir.manifest import input_fingerprint, versions, write_strict_json
from sft_select.scoring.table import base_table


def run_dedup(inputs: Sequence[str | Path], out: str | Path, cfg: Config | None = None, *,
              force: bool = False) -> dict[str, Any]:
    """Dedup `inputs` into `out`; returns the manifest."""
    cfg = cfg or Config()
    if not inputs:
        raise ConfigError("give at least one input file")
    out = Path(out)
    timer = Timer()
    with timer.step("load"):
        loaded = load(inputs, fmt=cfg.input.format, fields=cfg.input.fields, on_error=cfg.input.on_error,
                      split=cfg.input.split)
    if not loaded.examples:
        raise InputError(", ".join(map(str, inputs)), "no usable examples in the input")
    prepare(out, force=force)
    for stale in out.glob("kept.*"):  # a previous run may have written another format
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    with timer.step("preprocess"):
        pre = run_preprocess(loaded.examples, cfg.preprocess, embedder=cfg.embedding.model)
    table = base_table(loaded.examples, pre)
    table["reason"] = table["filter_reason"]
    table["score"] = np.nan
    table = resolve(table, "first")  # no scores here: the earliest member of a cluster stays
    if "kept_id" not in table:  # no duplicate at all: resolve added no column (clusters.parquet has one)
        table["kept_id"] = None
    kept_mask = table["reason"].isna().to_numpy()
    with timer.step("write"):
        kind = output_type(list(loaded.formats))
        kept_path = write_rows([loaded.examples[i].original for i in np.flatnonzero(kept_mask)], out / "kept", kind)
        rejected = list(loaded.rejected)
        for i in np.flatnonzero(~kept_mask):
            ex, kept_id = loaded.examples[i], table.at[i, "kept_id"]
            rejected.append(Rejected(ex.source, ex.row, None, ex.original, str(table.at[i, "reason"]), id=ex.id,
                                     kept_id=kept_id if isinstance(kept_id, str) else None))
        write_rejected(rejected, out / "rejected.jsonl")
        with atomic_path(out / "clusters.parquet") as tmp:
            table[["id", "source", "row", "dup_cluster", "dup_kind", "reason", "kept_id"]].to_parquet(tmp, index=False)
    reasons = table["reason"].dropna().astype(str).str.split(":").str[0].value_counts().sort_index()
    manifest = {
        "tool": "sft-select", "command": "dedup", "status": "complete", "keep": "first",
        "inputs": [dict(input_fingerprint(p, cfg.input.split), format=loaded.formats.get(str(p))) for p in inputs],
        "counts": {"rows_read": len(table) + len(loaded.rejected), "unreadable": len(loaded.rejected),
                   "examples": len(table), "kept": int(kept_mask.sum()),
                   "by_reason": {k: int(v) for k, v in reasons.items()}},
        "steps": [s.as_dict() for s in pre.steps],
        "timings": timer.seconds,
        "outputs": {"kept": kept_path.name, "rejected": "rejected.jsonl", "clusters": "clusters.parquet"},
        "versions": versions(),
        "config": cfg.model_dump(mode="json"),
    }
    with atomic_open(out / "config.yaml") as fh:
        fh.write(dump_config(cfg))
    write_strict_json(out / "manifest.json", manifest)
    info(f"Kept {int(kept_mask.sum())} of {len(table)} examples → {escape(str(kept_path))}")
    return manifest
