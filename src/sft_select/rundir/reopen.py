"""The one way to reopen a finished (or scored) run directory: its manifest and score table, checked, then
its config and its input examples on demand.

`sft-select select`, `tune`, `augment` and `report` all start here, so a damaged run gives each the same
error naming the file and the problem, and a changed input gives the same refusal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sft_select.config.schema import Config, build_config, deep_merge
from sft_select.core.errors import RunDirError
from sft_select.core.textsafe import clip
from sft_select.io.load import Loaded, load

# The score table's columns every command reading a run relies on (`run` and `score` both write them).
SCORE_COLUMNS = ("id", "filter_reason", "reason", "score", "selected")
_REBUILD = "run `sft-select run` again to rebuild it"


@dataclass
class Reopened:
    """A run directory read back: `manifest` and `table` are checked (`reopen`)."""

    run_dir: Path
    manifest: dict[str, Any]
    table: pd.DataFrame

    @property
    def inputs(self) -> list[str]:
        return [entry["path"] for entry in self.manifest["inputs"]]

    def config(self, overrides: dict[str, Any] | None = None) -> Config:
        """The config the manifest holds, with `overrides` merged over it."""
        return build_config(deep_merge(self.manifest["config"], overrides or {}),
                            source=f"{self.run_dir}/manifest.json")

    def changed(self) -> RunDirError:
        return RunDirError(f"{self.run_dir}: the input files changed since the run; run `sft-select run` again")

    def load_inputs(self, cfg: Config) -> Loaded:
        """The run's inputs read again with `cfg`'s input settings; refused when their examples are no longer
        the ones the score table holds."""
        loaded = load(self.inputs, fmt=cfg.input.format, fields=cfg.input.fields, on_error=cfg.input.on_error,
                      split=cfg.input.split)
        if set(self.table["id"]) != {ex.id for ex in loaded.examples}:
            raise self.changed()
        return loaded


def reopen(run_dir: str | Path, *, need_config: bool = False) -> Reopened:
    """A finished run's manifest and score table, both checked (`read_manifest`, `read_scores`)."""
    run_dir = Path(run_dir)
    return Reopened(run_dir, read_manifest(run_dir, need_config=need_config), read_scores(run_dir))


def read_run_checked(run_dir: str | Path, *, need_config: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
    """(manifest, score table) of a finished run, both checked (see `read_manifest`, `read_scores`)."""
    opened = reopen(run_dir, need_config=need_config)
    return opened.manifest, opened.table


def read_manifest(run_dir: str | Path, *, need_config: bool = False) -> dict[str, Any]:
    """manifest.json of a finished run, checked for what the commands read from it: one RunDirError
    naming the file and the problem instead of a KeyError or a JSON traceback later."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: " + ("is not a folder" if run_dir.exists() else "no such run directory"))
    if not path.exists() or not (run_dir / "scores.parquet").exists():
        raise RunDirError(f"{run_dir}: not a finished sft-select run (manifest.json or scores.parquet missing)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path}: unreadable manifest ({clip(exc)}); {_REBUILD}") from None
    problem = _manifest_problem(manifest, need_config)
    if problem:
        raise RunDirError(f"{path}: {problem}; not a manifest sft-select wrote, or a damaged one; {_REBUILD}")
    return manifest


def _manifest_problem(m: Any, need_config: bool) -> str | None:
    if not isinstance(m, dict):
        return f"holds {type(m).__name__}, not a JSON object"
    cfg = m.get("config")
    if cfg is None and need_config:
        return "no 'config' section (the run's resolved config, which this command starts from)"
    if cfg is not None and not isinstance(cfg, dict):
        return "'config' is not an object"
    if "run_config" in m and not isinstance(m["run_config"], dict):
        return "'run_config' is not an object"
    inputs = m.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(e, dict) and isinstance(e.get("path"), str)
                                               for e in inputs):
        return "'inputs' is not a list of input files with their paths"
    views = m.get("views")
    if not isinstance(views, dict) or not isinstance(views.get("used"), list):
        return "'views' does not list the views used"
    if not isinstance(views.get("weights", {}), dict):
        return "'views.weights' is not an object"
    return None


def read_scores(run_dir: str | Path) -> pd.DataFrame:
    """scores.parquet of a run, or one RunDirError naming it when it is damaged or not ours."""
    path = Path(run_dir) / "scores.parquet"
    import pyarrow as pa

    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError, NotImplementedError, pa.ArrowException) as exc:
        raise RunDirError(f"{path}: unreadable score table ({clip(exc)}); {_REBUILD}") from None
    missing = [c for c in SCORE_COLUMNS if c not in table.columns]
    if missing:
        raise RunDirError(f"{path}: not an sft-select score table (no column {', '.join(missing)}); {_REBUILD}")
    return table
