"""Atomic writes: a temp file in the same folder, fsynced, then renamed over the target.

A reader (or a crash) never sees a half-written output: the file is either the old one or the new one.
A process killed mid-write leaves only a temp file, named `.<target>.<random>.tmp` (<random>: the 8
characters tempfile draws from a-z, 0-9 and _; the parts workers write are `.<target>.<pid>.part<N>.tmp`
and `.<target>.stream<N>.tmp`): never an output's name, so nothing mistakes it for one, and
`remove_stale_temps` clears it when the run is resumed. A file of any other name, `.notes.tmp` say, is
not ours and is left alone.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

TEMP_SUFFIX = ".tmp"
# The temp names the package writes, and only those (`is_temp`): "." + the target's name + "." + one of
#   tempfile's 8 random characters (a-z, 0-9, _)   atomic_path
#   <pid>.part<start>                              an output's part written by a worker (io/writers.py)
#   stream<start>                                  the same in a streaming run (stream/outputs.py)
# + ".tmp".
_TEMP_NAME = re.compile(r"\..+\.(?:[a-z0-9_]{8}|[0-9]+\.part[0-9]+|stream[0-9]+)" + re.escape(TEMP_SUFFIX))


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def remove_path(path: Path) -> None:
    """Remove a file, a folder or a symlink; a symlink is unlinked, never followed."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable across a power cut; not possible (nor needed) on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success rename it onto `target`, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}."
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp creates 0600 files; an output should get the permissions any other new file gets.
        os.chmod(tmp, (0o777 if is_dir else 0o666) & ~_UMASK)
        if not is_dir:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if is_dir and (target.exists() or target.is_symlink()):
            remove_path(target)  # a folder cannot be renamed over a non-empty one
        os.replace(tmp, target)  # replaces a symlink itself, never the file it points to
        _fsync_dir(target.parent)
    except BaseException:
        remove_path(tmp)
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


def is_temp(path: Path) -> bool:
    """Whether `path` is a temp file or folder left by `atomic_path` (by its name)."""
    return _TEMP_NAME.fullmatch(path.name) is not None


def remove_stale_temps(folder: Path) -> int:
    """Delete temp files a killed process left in `folder` (not recursive); returns how many.

    Only names `atomic_path` makes are removed, and only safe in a folder of ours while no other process
    writes into it: the run directory's marker and lock guarantee that (rundir.prepare).
    """
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if is_temp(p)]
    for p in stale:
        remove_path(p)
    return len(stale)
