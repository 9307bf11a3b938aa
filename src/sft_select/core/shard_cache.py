"""One id-keyed shard cache: the rows of some examples, by id, in a folder named by an explicit key.

A shard is written once and never changed, its ids last: each file atomically (a temp file beside it,
fsynced, renamed), so a shard whose ids are on disk is complete, and processes writing into the same
folder at once cannot corrupt each other. A damaged shard is skipped (its rows count as missing and are
recomputed by the caller), never fatal. Nothing is read with pickle, so a cache file can never run code.
Two kinds of shard share these rules:

- an *array shard* holds one array's rows: `<shard>.npy` (the rows) and `<shard>.ids.npy` (their ids),
  looked up row by row (`get`), whichever shard holds an id; `get` picks up shards other processes
  wrote since the last call. The embeddings and the LM statistics are kept so.
- a *table shard* holds a chunk of examples whole: `<shard>.parquet`, a table with an `id` column (one
  row per example, in order), and optionally named arrays beside it, `<shard>.<array>.npy`, of any
  shape (the rows of the chunk's live examples, a ragged array and its offsets...: the caller knows
  how they relate to the table). The arrays are written first and the table, which holds the ids, last.
  It is looked up whole (`get_table`), for exactly the ids of the chunk in their order, so a chunk cut
  another way is never mistaken for it. The scoring checkpoints and the streaming engine's chunks are
  kept so.

A shard is named by the fingerprint of its ids unless the caller names it (a row range, a chunk number).
Rows and arrays may be memory-mapped, so a large cache costs no memory until read.

Only `core` and third-party imports: the lowest layer, usable by every cache above it. The temp names
follow io/atomic.py's (`.<target>.<8 random>.tmp`), so `remove_stale_temps` recognises what a killed
writer left.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from sft_select.core.cache import ids_fingerprint

IDS_SUFFIX = ".ids.npy"
TABLE_SUFFIX = ".parquet"
_ARRAYS = b"sft_select.arrays"  # a table shard's metadata entry: the names of the arrays beside it


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _save_atomic(target: Path, write: Callable[[Any], None]) -> None:
    """`write(fh)` to `target` through a temp file in the same folder, fsynced, then renamed over it."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes 0600; a cache file gets any new file's mode
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _save_array(target: Path, array: np.ndarray) -> None:
    _save_atomic(target, lambda fh: np.save(fh, array, allow_pickle=False))


class TableShard(NamedTuple):
    """A table shard read back: its table (a pandas DataFrame, as `pandas.read_parquet` gives it) and
    its arrays by name."""

    table: Any
    arrays: dict[str, np.ndarray]


class ShardCache:
    """Shards of rows by id under `folder` (name it by an explicit key: core.cache.fingerprint of what
    made them): array shards (`put`, `get`) and table shards (`put_table`, `get_table`).

    `mmap`: keep array shards and a table shard's arrays memory-mapped (`get` copies the rows out); else
    an array shard is read into memory once. `on_damaged(path, error)`: told of a shard that cannot be
    read (default: nothing); it is skipped.
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
        _save_array(self.folder / f"{name}.npy", rows)
        ids_file = self.folder / f"{name}{IDS_SUFFIX}"
        _save_array(ids_file, np.asarray(ids, dtype=str))
        return ids_file

    def put_table(self, table, *, name: str | None = None, arrays: dict[str, np.ndarray] | None = None) -> Path:
        """Write a table shard: `table` (a pandas DataFrame, or an Arrow table) with an `id` column, and
        `arrays` beside it; the arrays first, then the table, each atomically. `name` (default: the ids'
        fingerprint) replaces a shard of that name. Returns the table's file; an OSError is the caller's.

        Written without dictionary pages or column statistics: several times faster, and a shard is read
        back whole by this class only, so neither would ever be used."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)  # what DataFrame.to_parquet writes
        if "id" not in table.column_names:
            raise ValueError("a table shard needs an `id` column")
        arrays = dict(arrays or {})
        if "ids" in arrays or any("/" in key or key.startswith(".") for key in arrays):
            raise ValueError(f"array names must be plain and not `ids`: {sorted(arrays)}")
        name = name or ids_fingerprint(table.column("id").to_pylist())
        self.folder.mkdir(parents=True, exist_ok=True)
        for key, values in arrays.items():
            _save_array(self.folder / f"{name}.{key}.npy", np.ascontiguousarray(values))
        if arrays:
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   _ARRAYS: json.dumps(sorted(arrays)).encode()})
        target = self.folder / f"{name}{TABLE_SUFFIX}"
        _save_atomic(target, lambda fh: pq.write_table(table, fh, use_dictionary=False, write_statistics=False))
        return target

    def get_table(self, ids: Sequence[str], *, name: str | None = None) -> TableShard | None:
        """The table shard `name` (default: the ids' fingerprint) if it is complete and holds exactly
        `ids`, in that order; else None (a damaged one is told to `on_damaged`). Its arrays are
        memory-mapped when this cache is."""
        import pandas as pd
        import pyarrow.parquet as pq

        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        name = name or ids_fingerprint(ids)
        path = self.folder / f"{name}{TABLE_SUFFIX}"
        if not path.is_file():
            return None
        try:
            table = pd.read_parquet(path)
            if table["id"].tolist() != ids:
                return None  # another chunk of examples under this name: recomputed, then replaced
            listed = (pq.read_schema(path).metadata or {}).get(_ARRAYS)
            arrays = {key: np.load(self.folder / f"{name}.{key}.npy", mmap_mode="r" if self.mmap else None,
                                   allow_pickle=False)
                      for key in (json.loads(listed) if listed else [])}
        except (OSError, ValueError, EOFError, KeyError) as exc:  # damaged: ignored, its rows recomputed
            if self.on_damaged is not None:
                self.on_damaged(path, exc)
            return None
        return TableShard(table, arrays)
