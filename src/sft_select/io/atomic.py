"""Atomic writes: a temp file in the same folder, fsynced, then renamed over the target.

A reader (or a crash) never sees a half-written output: the file is either the old one or the new one.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


@contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success rename it onto `target`, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if not is_dir:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if is_dir and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    with atomic_path(target) as tmp:
        encoding = None if "b" in mode else kwargs.pop("encoding", "utf-8")
        with open(tmp, mode, encoding=encoding, **kwargs) as fh:
            yield fh


def write_json(target: str | Path, obj: Any) -> None:
    with atomic_open(target) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
