"""One id-keyed shard cache: rows of one array by example id, in a folder named by an explicit key.

A shard is two plain `.npy` files, `<shard>.npy` (the rows) and `<shard>.ids.npy` (their ids), both read
with `allow_pickle=False`, so a cache file can never run code. A shard is written once and never changed:
the rows first, then the ids, each atomically (a temp file beside it, fsynced, renamed), so a shard whose
ids file exists is complete and processes writing into the same folder at once cannot corrupt each other.
`get` picks up shards other processes wrote since the last call; a damaged shard is skipped (its rows
count as missing and are recomputed by the caller), never fatal. Rows may be memory-mapped, so a large
cache costs no memory until read.

Only `core` and third-party imports: the lowest layer, usable by every cache above it (embeddings, LM
statistics). The temp names follow io/atomic.py's (`.<target>.<8 random>.tmp`), so `remove_stale_temps`
recognises what a killed writer left.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sft_select.core.cache import ids_fingerprint

IDS_SUFFIX = ".ids.npy"


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _save_atomic(target: Path, array: np.ndarray) -> None:
    """`np.save` to `target` through a temp file in the same folder, fsynced, then renamed over it."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes 0600; a cache file gets any new file's mode
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


class ShardCache:
    """Rows by id under `folder` (name it by an explicit key: core.cache.fingerprint of what made them).

    `mmap`: keep shards memory-mapped (`get` copies the rows out); else a shard is read into memory once.
    `on_damaged(path, error)`: told of a shard that cannot be read (default: nothing); it is skipped.
    """

    def __init__(self, folder: Path, *, mmap: bool = False,
                 on_damaged: Callable[[Path, Exception], None] | None = None):
        self.folder = Path(folder)
        self.mmap = mmap
        self.on_damaged = on_damaged
        self._where: dict[str, tuple[int, int]] = {}  # id -> (shard, row)
        self._shards: list[np.ndarray] = []
        self._seen: set[str] = set()  # ids files read (or found damaged): each is read once

    def refresh(self) -> None:
        """Read the shards written since the last call (by this process or another)."""
        if not self.folder.is_dir():
            return
        for ids_file in sorted(self.folder.glob("*" + IDS_SUFFIX)):
            if ids_file.name in self._seen:
                continue
            self._seen.add(ids_file.name)
            try:
                ids = np.load(ids_file, allow_pickle=False)
                rows = np.load(ids_file.with_name(ids_file.name[: -len(IDS_SUFFIX)] + ".npy"),
                               mmap_mode="r" if self.mmap else None, allow_pickle=False)
                if ids.ndim != 1 or len(ids) != len(rows):
                    raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
            except (OSError, ValueError, EOFError) as exc:  # damaged: ignored, its rows recomputed
                if self.on_damaged is not None:
                    self.on_damaged(ids_file, exc)
                continue
            shard = len(self._shards)
            self._shards.append(rows)
            for row, key in enumerate(ids.tolist()):
                self._where.setdefault(key, (shard, row))

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached rows among `ids`, by id (shards other processes wrote since the last call included)."""
        where = self._where
        if any(key not in where for key in ids):
            self.refresh()
        found = {}
        shards = self._shards
        for key in ids:
            loc = where.get(key)
            if loc is not None:
                row = shards[loc[0]][loc[1]]
                found[key] = np.array(row) if self.mmap else row  # a copy out of the memory map
        return found

    def put(self, ids: Sequence[str], rows: np.ndarray, *, dtype=None) -> Path | None:
        """Write `rows` (one per id) as one shard: the rows, then the ids, each atomically. Returns the
        ids file (None when `ids` is empty). An OSError (a read-only cache, a full disk) is the caller's."""
        ids = list(ids)
        if not ids:
            return None
        rows = np.ascontiguousarray(rows, dtype=dtype)
        if len(rows) != len(ids):
            raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
        self.folder.mkdir(parents=True, exist_ok=True)
        name = ids_fingerprint(ids)
        _save_atomic(self.folder / f"{name}.npy", rows)
        ids_file = self.folder / f"{name}{IDS_SUFFIX}"
        _save_atomic(ids_file, np.asarray(ids, dtype=str))
        return ids_file
