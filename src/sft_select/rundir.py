"""The run directory: what a run writes, where, and the rules for reusing a folder.

RUN_DIR/
  selected.<fmt>     original rows of the selected examples, in the input's own format
  rejected.jsonl     every row that left, with `row` (original) and `reason`
  scores.parquet     the score table (see table.py)
  manifest.json      resolved config, versions, fingerprints, seed, counts, timings; written last
  config.yaml        the resolved config, runnable as is with --config
  cache/             per-view score caches keyed by fingerprint (resume and re-runs)
"""
from __future__ import annotations

import shutil
from pathlib import Path

from sft_select.errors import RunDirError

MARKER = ".sft-select-run"
OUTPUTS = ("selected.jsonl", "selected.json", "selected.csv", "selected.parquet", "selected.hf",
           "rejected.jsonl", "scores.parquet", "manifest.json", "config.yaml", "report.html", "summary.json",
           "tune.json", "tuned-config.yaml", "augmented.jsonl", "augmented.json", "augmented.csv",
           "augmented.parquet", "augmented.hf")


def prepare(out: Path, *, force: bool) -> bool:
    """Make `out` ready for a run. Returns True when an interrupted run is being resumed.

    A finished run (manifest.json present) is only replaced with --force; a folder that is not a run of
    ours is never written into unless empty (or --force).
    """
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        ours = (out / MARKER).exists()
        finished = (out / "manifest.json").exists()
        if not force:
            if not ours:
                raise RunDirError(f"{out}: folder exists and is not an sft-select run; pick another --out "
                                  "or pass --force")
            if finished:
                raise RunDirError(f"{out}: a finished run is already there; pass --force to replace it, or "
                                  f"`sft-select select {out}` to re-select from its scores")
            return True
        for name in OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        # The score cache is keyed by content fingerprints, so it stays valid and is kept.
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("sft-select run directory\n", encoding="utf-8")
    return False


def inside(run_dir: Path, name: str) -> Path:
    """A path for an output, confined to the run directory (no '..', no absolute names)."""
    target = (run_dir / name).resolve()
    if run_dir.resolve() not in target.parents:
        raise RunDirError(f"output path '{name}' would leave the run directory {run_dir}")
    return target
