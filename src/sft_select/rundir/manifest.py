"""manifest.json: everything needed to trust and reproduce a run. Written last: its presence marks a
finished run."""
from __future__ import annotations

import json
import math
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xxhash

from sft_select.config.schema import Config, dump_config
from sft_select.core.cache import ids_fingerprint
from sft_select.io.atomic import atomic_open

_VERSIONED = ("sft-select", "numpy", "pandas", "pyarrow", "pydantic", "scikit-learn", "faiss-cpu", "model2vec",
              "torch", "transformers", "rensa", "cleanlab", "ray")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Size and xxh3-128 of the bytes of a file (of every file, for a folder)."""
    path = Path(path)
    h = xxhash.xxh3_128()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    size = 0
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
    return {"path": str(path.resolve()), "bytes": size, "xxh3_128": h.hexdigest()}


def input_fingerprint(path: str | Path, split: str = "train") -> dict[str, Any]:
    """An input's manifest entry: `file_fingerprint`, except for a DatasetDict folder (its `split`'s files,
    with the split named) and a dataset `load_dataset` reads (its name, split and own fingerprint,
    io/hub.py): so the entry changes with the split the run read, and `path` reopens it."""
    from sft_select.io.hub import hub_fingerprint, hub_source
    from sft_select.io.readers import dataset_dict_splits

    source = hub_source(path)
    if source is not None:
        return hub_fingerprint(source, split)
    if dataset_dict_splits(Path(path)) is not None:
        return {**file_fingerprint(Path(path) / split), "path": str(Path(path).resolve()), "split": split}
    return file_fingerprint(path)


def counts(table: pd.DataFrame, loaded) -> dict[str, Any]:
    # by kind (a reason's text before any ':'), cut and counted by Arrow: reasons carry numbers, so nearly
    # every one is distinct, and splitting them one by one in Python is a loop over every row
    import pyarrow as pa
    import pyarrow.compute as pc

    reasons = pa.array(table["reason"].dropna().astype(str), pa.string())
    found = pc.value_counts(pc.list_element(pc.split_pattern(reasons, ":", max_splits=1), 0))
    by_kind = dict(zip(found.field("values").to_pylist(), found.field("counts").to_pylist()))
    return {
        "rows_read": len(table) + len(loaded.rejected),
        "unreadable": len(loaded.rejected),
        "examples": len(table),
        "filtered": int(table["filter_reason"].notna().sum()),
        "scored": int(table["score"].notna().sum()),
        "selected": int(table["selected"].sum()),
        "by_reason": dict(sorted(by_kind.items())),
    }


def build_manifest(cfg: Config, *, inputs: Sequence, target, loaded, table: pd.DataFrame, timer, pre_steps,
                   scoring, weights: dict[str, float], outputs: dict[str, str], status: str) -> dict[str, Any]:
    return {
        "tool": "sft-select",
        "status": status,
        "seed": cfg.seed,
        "inputs": [dict(input_fingerprint(p, cfg.input.split), format=loaded.formats.get(str(p))) for p in inputs],
        "target": file_fingerprint(target) if target else None,
        "pool_fingerprint": ids_fingerprint(table["id"]),
        "versions": versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "argv": sys.argv[1:]},
        "views": {
            "used": [vs.name for vs in scoring.scores],
            "skipped": scoring.skipped,
            "weights": weights,
            "seconds": {vs.name: round(vs.seconds, 4) for vs in scoring.scores},
            "cached": [vs.name for vs in scoring.scores if vs.cached],
        },
        "counts": counts(table, loaded),
        "steps": [s.as_dict() for s in pre_steps],
        "timings": timer.seconds,
        "outputs": outputs,
        "config": cfg.model_dump(mode="json"),
        # The config the run resolved, kept as is by later `select`s (which rewrite "config"): a select
        # starts from it plus its own flags, so what it gives never depends on earlier selects.
        "run_config": cfg.model_dump(mode="json"),
    }


def strict_json(obj: Any) -> Any:
    """`obj` with every value JSON can hold strictly: non-finite floats (NaN, ±inf) become null, numpy
    scalars and arrays plain Python values, tuples lists, keys strings; anything else is left for
    `default=str`."""
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    return obj


def write_strict_json(target: Path, obj: Any) -> None:
    """Atomically write `obj` as strict JSON (RFC 8259: no NaN or Infinity tokens, see `strict_json`)."""
    with atomic_open(target) as fh:
        json.dump(strict_json(obj), fh, indent=2, ensure_ascii=False, default=str, allow_nan=False)
        fh.write("\n")


def write_manifest(out: Path, manifest: dict[str, Any], cfg: Config) -> None:
    with atomic_open(out / "config.yaml") as fh:
        fh.write("# The resolved config of this run: `sft-select run ... --config config.yaml` reproduces it.\n")
        fh.write(dump_config(cfg))
    write_strict_json(out / "manifest.json", manifest)
