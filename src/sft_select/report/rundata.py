"""Everything the report reads from a run directory, loaded once and tolerant of what is missing.

The score table and the manifest are required (they define a finished run). The rest is optional and
only costs a section or a column when absent: the original examples (texts, token counts, the map) come
back from the input paths the manifest names, and `tune.json` appears only when the run was tuned.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from sft_select.core.errors import SftSelectError
from sft_select.core.record import Example
from sft_select.rundir.reopen import SCORE_COLUMNS, read_manifest, read_run_checked, read_scores, reopen


@dataclass
class RunData:
    run_dir: Path
    manifest: dict[str, Any]
    table: pd.DataFrame
    examples: dict[str, Example] | None = None  # by id; None when the inputs could not be read back
    target: list[Example] = field(default_factory=list)
    tune: dict[str, Any] | None = None  # tune.json as read (see tune.py for the tolerated shapes)
    notes: list[str] = field(default_factory=list)  # what is missing and why, shown in the report

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.manifest.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def embedding_model(self) -> str:
        emb = self.config.get("embedding")
        return str(emb.get("model", "static-minilm")) if isinstance(emb, dict) else "static-minilm"

    def text(self, id_: str) -> str | None:
        """An example's content (prompt and response, or text) by id, target examples included."""
        ex = self.examples.get(id_) if self.examples is not None else None
        if ex is None and self.target:
            ex = next((t for t in self.target if t.id == id_), None)
        return ex.content if ex is not None else None

    def texts(self, ids: Sequence[str]) -> list[str | None]:
        """`text` of many ids: one dict lookup each, and the slower target search only for misses."""
        found = list(map(self.examples.get, ids)) if self.examples is not None else [None] * len(ids)
        return [ex.content if ex is not None else self.text(i) if self.target else None
                for i, ex in zip(ids, found)]


def open_run(run_dir: str | Path, *, examples: Sequence[Example] | None = None, load_inputs: bool = True,
             manifest: dict[str, Any] | None = None, table: pd.DataFrame | None = None) -> RunData:
    """Read a finished run. What is passed in (in memory at the end of a run) is not read again."""
    run_dir = Path(run_dir)
    if manifest is None or table is None:
        opened = reopen(run_dir)  # raises RunDirError naming what is wrong
        manifest, table = opened.manifest, opened.table
    else:  # as manifest.json will hold it (strict JSON), so both paths give the same report
        from sft_select.rundir.manifest import strict_json

        manifest = json.loads(json.dumps(strict_json(manifest), default=str))
    data = RunData(run_dir, manifest, table.reset_index(drop=True))
    if examples is not None:
        data.examples = {ex.id: ex for ex in examples}
    elif load_inputs:
        data.examples = _load_inputs(data)
    if load_inputs or examples is not None:
        data.target = _load_target(data)
    data.tune = _read_tune(run_dir / "tune.json", data.notes)
    return data


def _input_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    inp = cfg.get("input") if isinstance(cfg.get("input"), dict) else {}
    return {"fmt": inp.get("format"), "fields": inp.get("fields") or {}, "on_error": "skip",
            "split": inp.get("split") or "train"}


def _load_inputs(data: RunData) -> dict[str, Example] | None:
    from sft_select.io.hub import hub_source
    from sft_select.io.load import load

    paths = [e.get("path") for e in data.manifest.get("inputs", []) if isinstance(e, dict)]
    missing = [p for p in paths if not p or not (Path(p).exists() or hub_source(p))]  # a Hub name is no path
    if not paths or missing:
        data.notes.append("The input files are gone (" + ", ".join(map(str, missing or ["none named"]))
                          + "): example texts, token counts and the embedding map are left out.")
        return None
    try:
        loaded = load(paths, **_input_settings(data.config))
    except (SftSelectError, OSError, ValueError) as exc:
        data.notes.append(f"The input files could not be read back ({exc}): example texts are left out.")
        return None
    by_id = {ex.id: ex for ex in loaded.examples}
    known = np.fromiter((i in by_id for i in data.table["id"]), dtype=bool, count=len(data.table))
    if not known.all():
        data.notes.append(f"The input files changed since the run: {int((~known).sum())} of {len(known)} ids "
                          "are no longer found, so their texts are left out.")
    return by_id


def _load_target(data: RunData) -> list[Example]:
    from sft_select.io.load import load

    target = data.manifest.get("target")
    path = target.get("path") if isinstance(target, dict) else None
    if not path or not Path(path).exists():
        return []
    try:
        return load([path], **_input_settings(data.config)).examples
    except (SftSelectError, OSError, ValueError):
        return []


def _read_tune(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"tune.json is unreadable ({exc}); the tuning section is left out.")
        return None
    if not isinstance(obj, dict):
        notes.append("tune.json is not a JSON object; the tuning section is left out.")
        return None
    return obj


__all__ = ["RunData", "SCORE_COLUMNS", "open_run", "read_manifest", "read_run_checked", "read_scores"]
