"""Explicit cache keys and the user cache folder.

A key chains the input fingerprint with the step's name, version and non-default parameters (as
Hugging Face datasets does), so a re-run recomputes only what changed and never hits a stale entry.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import xxhash


def user_cache_dir() -> Path:
    """`$SFT_SELECT_CACHE`, else the platform's user cache folder (models, distilled embedders)."""
    env = os.environ.get("SFT_SELECT_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir as _ucd

    return Path(_ucd("sft-select"))


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serializable parts (dict keys sorted)."""
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()[:20]


def ids_fingerprint(ids: Iterable[str]) -> str:
    """Fingerprint of a pool: its ids in order (ids are content hashes, so this covers the content)."""
    # One update with every id and its newline: the same bytes as an update per id (xxh3 streams), and
    # `tolist` instead of iterating a pandas column (per-element iteration of Arrow strings is slow).
    ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    h = xxhash.xxh3_128()
    if ids:
        h.update(("\n".join(ids) + "\n").encode())
    return h.hexdigest()[:20]


def file_fingerprint(path: Path) -> str:
    """Digest of a file's bytes (a missing file digests as such: the view's fit names the problem)."""
    h = xxhash.xxh3_128()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"
    return h.hexdigest()[:20]
