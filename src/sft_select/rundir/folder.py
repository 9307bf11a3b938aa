"""The run directory: what a run writes, where, and the rules for reusing a folder.

RUN_DIR/
  selected.<fmt>     the selected rows: the input's own (a JSONL input's lines byte for byte), or
                     selected.jsonl in the schema of --output-format (io/export.py)
  dataset_info.json  LLaMA-Factory's entry for selected.jsonl (--output-format alpaca, sharegpt, messages)
  rejected.jsonl     every row that left, with `row` (original) and `reason`
  scores.parquet     the score table (see scoring/table.py)
  manifest.json      resolved config, versions, fingerprints, seed, counts, timings; written last
  config.yaml        the resolved config, runnable as is with --config
  cache/             per-view score caches keyed by fingerprint (resume and re-runs), and the
                     checkpoints of a view being scored (`<view>-<key>.parts/`)

Every file is written atomically, so a killed run leaves complete files and `.*.tmp` leftovers only.
A folder with the marker but no manifest.json is an interrupted run: the next `run` resumes it, reusing
every finished view and checkpoint from cache/. One process at a time may write a run directory.

Only a folder that holds the marker is ours: --force replaces a run directory, never a folder of the
user's that happens to hold a file with an output's name. Symlinks are never followed into: an output
that is a symlink is replaced (the link, not what it points to), and a run directory whose marker,
cache/ or anything in cache/ is a symlink is refused, since the run would write through it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from sft_select.core.errors import RunDirError
from sft_select.executors.pool import on_worker_start
from sft_select.io.atomic import remove_path, remove_stale_temps

MARKER = ".sft-select-run"
OUTPUTS = ("selected.jsonl", "selected.json", "selected.csv", "selected.parquet", "selected.hf", "dataset_info.json",
           "rejected.jsonl", "scores.parquet", "manifest.json", "config.yaml", "report.html", "summary.json",
           "tune.json", "tuned-config.yaml", "augmented.jsonl", "augmented.json", "augmented.csv",
           "augmented.parquet", "augmented.hf")

# Open lock files by run directory: a lock lives as long as this process (or until `release`), and the
# kernel drops it when the process dies, even by SIGKILL, so a killed run never leaves a stale lock. A
# forked worker inherits these files (and with them the lock, which flock shares across fork): it closes
# them first thing (`close_inherited_locks`, registered with the worker pool), and dies with the parent
# (sft_select.executors.pool).
_LOCKS: dict[Path, int] = {}


def prepare(out: Path, *, force: bool, protect: Iterable[str | Path] = ()) -> bool:
    """Make `out` ready for a run. Returns True when an interrupted run is being resumed.

    A finished run (manifest.json present) is only replaced with --force; a folder that is not a run of
    ours is never written into unless empty (or --force). `protect` lists the run's input files: a run
    directory that holds one is refused, since writing the outputs could overwrite it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a folder")
    _refuse_inputs_inside(out, protect)
    _refuse_symlinks(out)
    resumed = False
    if out.exists() and any(out.iterdir()):
        ours = (out / MARKER).is_file()
        finished = (out / "manifest.json").exists()
        if not ours:
            # --force included: files with an output's name (config.yaml, report.html, a selected.hf/
            # tree) in a folder we did not create are the user's, and --force would delete them.
            raise RunDirError(f"{out}: folder exists and is not an sft-select run (no {MARKER} marker); "
                              + ("--force replaces only a run directory sft-select created; " if force else "")
                              + "pick another --out")
        if not force:
            if finished:
                raise RunDirError(f"{out}: a finished run is already there; pass --force to replace it, or "
                                  f"`sft-select select {out}` to re-select from its scores")
            resumed = True
    out.mkdir(parents=True, exist_ok=True)
    _lock(out)
    if force:
        # manifest.json goes first: if this is killed half-way, the folder reads as unfinished (and is
        # resumed), never as a finished run with outputs missing.
        for name in ("manifest.json", *OUTPUTS):
            remove_path(out / name)
        # The score cache is keyed by content fingerprints, so it stays valid and is kept.
    # The marker is ours and locked: the temp files here are our killed writes' (remove_stale_temps
    # removes only the temp names the package writes, io.atomic.is_temp).
    for folder in (out, out / "cache"):
        remove_stale_temps(folder)
    if (out / "cache").is_dir():  # and one level down: scoring parts, streaming chunks, tune evaluations
        for sub in (out / "cache").iterdir():
            if sub.is_dir() and not sub.is_symlink():
                remove_stale_temps(sub)
    return resumed


def _refuse_inputs_inside(out: Path, inputs: Iterable[str | Path]) -> None:
    root = out.resolve()
    for path in inputs:
        resolved = Path(path).resolve()
        if resolved == root or root in resolved.parents:
            raise RunDirError(f"{out}: the input {path} lies inside this run directory, where outputs are "
                              "written and replaced; pick another --out")


def _refuse_symlinks(out: Path) -> None:
    """A run directory whose marker, cache/ or cache entries are symlinks would lock or write through
    them, outside the folder: refused. (An output that is a symlink is safe: it is replaced or unlinked,
    never followed; see io.atomic.)"""
    if not out.is_dir():
        return
    planted = [out / MARKER, out / "cache"]
    cache = out / "cache"
    if cache.is_dir() and not cache.is_symlink():
        for entry in cache.iterdir():
            planted.append(entry)
            if entry.suffix == ".parts" and entry.is_dir() and not entry.is_symlink():
                planted.extend(entry.iterdir())
    links = [p for p in planted if p.is_symlink()]
    if links:
        raise RunDirError(f"{out}: {links[0].relative_to(out)} is a symlink; a run directory's marker and "
                          "cache are never followed out of it: remove the link or pick another --out")


def _lock(out: Path) -> None:
    """Hold an exclusive lock on the marker file, or fail if another process holds it."""
    key = out.resolve()
    if key in _LOCKS:
        return
    try:
        fd = os.open(out / MARKER, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:  # ELOOP: the marker became a symlink
        raise RunDirError(f"{out}: cannot open the run marker {MARKER}: {exc.strerror}") from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the marker is still written
        fcntl = None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunDirError(f"{out}: another sft-select process is writing this run directory; wait for "
                              "it to finish or pick another --out") from None
    if os.fstat(fd).st_size == 0:
        os.write(fd, b"sft-select run directory\n")
    _LOCKS[key] = fd


@on_worker_start
def close_inherited_locks() -> None:
    """In a forked worker: close the lock files inherited from the parent, without unlocking (LOCK_UN
    would drop the parent's lock too; closing one copy of the file leaves the lock to the others)."""
    for fd in _LOCKS.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _LOCKS.clear()


def release(out: Path) -> None:
    """Drop this process's lock on `out` (a finished run no longer needs it)."""
    fd = _LOCKS.pop(Path(out).resolve(), None)
    if fd is not None:
        os.close(fd)


def inside(run_dir: Path, name: str) -> Path:
    """A path for an output, confined to the run directory (no '..', no absolute names, no symlink out)."""
    target = (run_dir / name).resolve()
    if run_dir.resolve() not in target.parents:
        raise RunDirError(f"output path '{name}' would leave the run directory {run_dir}")
    return target
