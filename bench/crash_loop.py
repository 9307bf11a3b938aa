"""Kill `sft-select run` with SIGKILL at random moments, many times, and check what each kill leaves.

For each kill the run directory is checked file by file against an uninterrupted reference run:
every file present must be byte-identical to the reference's file of the same name (a partial write
could not be), or a complete checkpoint that equals the reference's scores for its rows; leftover temp
files (`.*.tmp`) are counted and must never carry an output's name. The next invocation resumes the
same directory: every cache file and checkpoint a kill left must survive it unchanged (same inode and
mtime: not recomputed), a run that resumes must say "Resuming", and the invocation that finally
completes must leave outputs byte-identical to the reference and no temp file.

Each invocation gets a different PYTHONHASHSEED, so the check also covers hash-order nondeterminism.

Each invocation runs in its own process group. After a kill (of the parent only, as `kill -9 PID` does)
the loop counts survivors: processes of that group still alive 2 s later (forked workers that outlived
their parent; zombies, which hold nothing, are not counted). An invocation refused with "another
sft-select process is writing this run directory" (a lock a dead run left held) is counted as a refused
resume; the loop then kills what is left of the earlier group and goes on. `--parallel-min` lowers
engine.parallel_min so that a small pool forks workers; `--streaming` reads the pool chunk by chunk.

    python bench/crash_loop.py --n 20000 --kills 50          # the figure in docs/reliability.md
    python bench/crash_loop.py --n 20000 --kills 50 --parallel-min 500 --workers 2 --streaming
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import pandas as pd  # noqa: E402

from reliability.helpers import cli_cmd, cli_env, make_demo  # noqa: E402
from sft_select.io.atomic import is_temp  # noqa: E402
from sft_select.rundir.folder import MARKER, OUTPUTS  # noqa: E402

# Manifest fields that must agree between runs; timings, argv and which views came from cache may not.
STABLE_MANIFEST = ("status", "seed", "inputs", "target", "pool_fingerprint", "counts", "config", "outputs")


@dataclass
class Stats:
    kills: int = 0
    invocations: int = 0
    episodes: int = 0
    completed: int = 0
    resumed_completions: int = 0
    files_checked: int = 0
    temp_files_seen: int = 0
    aimed_mid_write: int = 0  # kills sent the moment a temp file appeared
    reused_files_verified: int = 0
    identical_final_outputs: int = 0
    kills_with_workers: int = 0  # kills that landed while the run had forked worker processes
    survivors: int = 0  # processes of a killed run alive 2 s after the kill
    kills_with_survivors: int = 0
    refused_resumes: int = 0  # invocations refused because a killed run's lock was still held
    phases: Counter = field(default_factory=Counter)
    cut_writes: Counter = field(default_factory=Counter)  # file -> kills that landed while it was written
    reference_seconds: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


REFUSED = "another sft-select process is writing this run directory"


def run_args(pool: Path, target: Path, out: Path, n_select: int, extra: tuple[str, ...] = ()) -> list[str]:
    return cli_cmd("run", pool, "--target", target, "-n", str(n_select), "--views",
                   "quality_heuristic,relevance_embedding", "--embedder", "hashing", "--out", out, *extra)


def group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc (Linux)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(int(entry))
    return found


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def survivors_after(pgid: int, grace: float = 2.0) -> list[int]:
    """What is left alive of the group `grace` seconds after its leader was killed."""
    deadline = time.monotonic() + grace
    while (alive := group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stable_manifest(path: Path) -> dict:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    core = {k: manifest.get(k) for k in STABLE_MANIFEST}
    views = manifest.get("views", {})
    core["views"] = {"used": views.get("used"), "skipped": views.get("skipped"), "weights": views.get("weights")}
    return core


# report.html and summary.json show the run's step timings, so they cannot equal the reference's byte for
# byte: a kill must leave them complete, and summary.json's timing-free part must equal the reference's.
REPORT_FILES = ("report.html", "summary.json")


def check_report_file(path: Path, ref: Path) -> None:
    if path.name == "report.html":
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), "report.html is incomplete"
        return

    def stable(p: Path) -> dict:
        summary = json.loads(p.read_text(encoding="utf-8"))
        for key in ("manifest", "run"):  # timings, argv and the run folder's own path
            summary.pop(key, None)
        for view in summary.get("views", []):
            view.pop("seconds", None)
            view.pop("cached", None)
        return summary

    assert stable(path) == stable(ref), "summary.json differs from the reference"


def phase(out: Path) -> str:
    """Where a kill landed, from what it left."""
    if not (out / MARKER).exists():
        return "startup/load"
    if (out / "manifest.json").exists():
        return "finished"
    if any((out / name).exists() for name in OUTPUTS):
        return "writing outputs"
    if any((out / "cache").glob("*.parts/*.parquet")):
        return "scoring (mid-view, checkpoints saved)"
    if any((out / "cache").glob("*.parquet")):
        return "scoring (some views cached)"
    return "scoring (nothing saved yet)"


def check_run_dir(out: Path, ref: Path, stats: Stats) -> None:
    """Every file a kill left is complete: identical to the reference's, or a valid checkpoint."""
    if not out.exists():
        return
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if any(is_temp(Path(p)) for p in rel.parts):
            if is_temp(path):
                stats.temp_files_seen += 1
                assert path.name not in OUTPUTS, f"a temp file carries an output's name: {rel}"
            continue
        if path.is_dir() or rel.name == MARKER:
            continue
        stats.files_checked += 1
        if rel.name == "manifest.json":
            assert stable_manifest(path) == stable_manifest(ref / rel), "manifest.json differs from the reference"
        elif rel.name in REPORT_FILES and (ref / rel).is_file():
            check_report_file(path, ref / rel)
        elif (ref / rel).is_file():
            assert path.read_bytes() == (ref / rel).read_bytes(), f"{rel} differs from the uninterrupted run"
        elif rel.parent.suffix == ".parts":
            check_checkpoint(path, ref / "cache" / f"{rel.parent.stem}.parquet")
        else:
            raise AssertionError(f"unexpected file in the run directory: {rel}")


def check_checkpoint(part: Path, ref_cache: Path) -> None:
    start, end = (int(x) for x in part.stem.split("-"))
    got = pd.read_parquet(part)
    want = pd.read_parquet(ref_cache).iloc[start:end].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def cache_files(out: Path) -> dict[str, tuple[int, int]]:
    found = list((out / "cache").glob("*.parquet")) + list((out / "cache").glob("*.parts/*.parquet"))
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in found if not is_temp(p)}


def check_not_recomputed(out: Path, watched: dict[str, tuple[int, int]], stats: Stats) -> None:
    """A cache file or checkpoint a kill left is reused as is; a checkpoint may only disappear once its
    view's whole cache file exists (it was folded into it)."""
    now = cache_files(out)
    for rel, sig in watched.items():
        if rel in now:
            assert now[rel] == sig, f"{rel} was rewritten: finished work was recomputed"
            stats.reused_files_verified += 1
        else:
            view_cache = out / "cache" / f"{Path(rel).parent.stem}.parquet"
            assert rel.endswith(".parquet") and ".parts/" in rel and view_cache.exists(), f"{rel} vanished"


def compare_final(out: Path, ref: Path, stats: Stats) -> None:
    def listing(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}

    assert listing(out) == listing(ref), f"files differ from the reference: {listing(out) ^ listing(ref)}"
    for rel in sorted(listing(ref)):
        if rel == "manifest.json":
            assert stable_manifest(out / rel) == stable_manifest(ref / rel)
        elif rel in REPORT_FILES:
            check_report_file(out / rel, ref / rel)
        elif rel != MARKER:
            assert (out / rel).read_bytes() == (ref / rel).read_bytes(), f"final {rel} differs from the reference"
    stats.identical_final_outputs += 1


def write_kind(tmp: Path, out: Path) -> str:
    """What a temp file was going to become: an output's name, a view's cache file or checkpoint."""
    part = re.fullmatch(r"\.(.+)\.(?:[0-9]+\.part|stream)[0-9]+\.tmp", tmp.name)  # a worker's part of an output
    if part:
        return f"{part.group(1)} (a worker's part)"
    target = tmp.name[1:].rsplit(".", 2)[0]  # .<target>.<random>.tmp
    if tmp.parent == out:
        return target
    view = (tmp.parent.name if tmp.parent.suffix == ".parts" else target).rsplit("-", 1)[0]
    return f"{view} checkpoint" if tmp.parent.suffix == ".parts" else f"{view} cache file"


def temps(out: Path) -> set[Path]:
    return {p for p in out.rglob("*") if is_temp(p)} if out.exists() else set()


def wait_for_temp(proc: subprocess.Popen, out: Path, timeout: float, old: set[Path], nth: int) -> bool:
    """Poll until the `nth` new temp file shows up in the run directory (that write is in progress);
    False if the run ended first. `old`: temp files an earlier kill left, removed when the run starts."""
    deadline, seen = time.monotonic() + timeout, set()
    while time.monotonic() < deadline and proc.poll() is None:
        current = temps(out) - old
        seen |= current
        if len(seen) >= nth and current:
            return True
        time.sleep(0.002)
    return False


def crash_loop(pool: Path, target: Path, work: Path, *, kills: int, seed: int = 0, n_select: int = 500,
               min_frac: float = 0.0, max_frac: float = 1.1, mid_write: float = 0.0, streaming: bool = False,
               parallel_min: int | None = None, workers: str | None = None, log=print) -> Stats:
    """SIGKILL runs at delays drawn in [min_frac, max_frac] × the reference run's time until `kills`.

    A share `mid_write` of the invocations is instead killed the moment a temp file appears, i.e. in
    the middle of writing a checkpoint, a cache file or an output.
    """
    stats, rng, started = Stats(), random.Random(seed), time.perf_counter()
    extra: list[str] = []
    if streaming:
        extra += ["--streaming", "on"]
    if workers is not None:
        extra += ["--workers", str(workers)]
    if parallel_min is not None:
        config = work / "crash-loop-config.yaml"
        config.write_text(f"engine: {{parallel_min: {parallel_min}}}\n")
        extra += ["--config", str(config)]

    def args(out: Path) -> list[str]:
        return run_args(pool, target, out, n_select, tuple(extra))

    ref = work / "reference"
    t0 = time.perf_counter()
    done = subprocess.run(args(ref) + ["--force"], env=cli_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the reference run failed:\n{done.stderr}")
    stats.reference_seconds = time.perf_counter() - t0
    log(f"reference run: {stats.reference_seconds:.1f}s")
    while stats.kills < kills:
        stats.episodes += 1
        out = work / f"episode-{stats.episodes:03d}"
        watched: dict[str, tuple[int, int]] = {}
        leftover: list[int] = []  # process groups of killed invocations with survivors
        while True:
            unfinished_before = (out / MARKER).exists() and not (out / "manifest.json").exists()
            old_temps = temps(out)
            err_path = work / "last-stderr.txt"
            with open(err_path, "w") as err:
                proc = subprocess.Popen(args(out), env=cli_env(rng.randrange(2**32)), start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=err)
                # Once enough kills are done, the episode's last invocation runs to the end.
                delay = rng.uniform(min_frac, max_frac) * stats.reference_seconds if stats.kills < kills else None
                aim = delay is not None and rng.random() < mid_write
                stats.invocations += 1
                try:
                    if aim and wait_for_temp(proc, out, 10 * stats.reference_seconds, old_temps,
                                           nth=rng.randint(1, 6)):
                        delay = 0.0
                        stats.aimed_mid_write += 1
                    rc = proc.wait(timeout=delay)
                    killed = False
                except subprocess.TimeoutExpired:
                    had_workers = bool(children(proc.pid))
                    proc.kill()  # SIGKILL to the parent alone: no handler runs, no cleanup happens
                    proc.wait()
                    rc, killed = proc.returncode, True
            stderr = err_path.read_text(errors="replace")
            if REFUSED in stderr:  # a killed run's survivor still holds the lock
                if not leftover:
                    raise RuntimeError(f"refused, and no killed run of this loop is alive:\n{stderr}")
                stats.refused_resumes += 1
                log(f"refused: {REFUSED}")
                for pgid in leftover:
                    kill_group(pgid)
                leftover = []
                time.sleep(0.2)
                continue
            if killed:
                stats.kills_with_workers += had_workers
                alive = survivors_after(proc.pid)
                if alive:
                    stats.survivors += len(alive)
                    stats.kills_with_survivors += 1
                    leftover.append(proc.pid)
                    log(f"kill {stats.kills + 1}: {len(alive)} process(es) alive 2 s after the kill")
                stats.kills += 1
                stats.phases[phase(out)] += 1
                for tmp in temps(out) - old_temps:  # the writes the kill cut short
                    stats.cut_writes[write_kind(tmp, out)] += 1
            check_run_dir(out, ref, stats)
            check_not_recomputed(out, watched, stats)
            watched.update(cache_files(out))
            if (out / "manifest.json").exists():
                if not killed and unfinished_before:
                    assert "Resuming the unfinished run" in stderr, "a resumed run did not say so"
                    stats.resumed_completions += 1
                compare_final(out, ref, stats)
                assert not any(is_temp(p) for p in out.rglob("*")), "a finished run left temp files"
                stats.completed += 1
                for pgid in leftover:
                    kill_group(pgid)
                break
            if not killed:
                raise RuntimeError(f"run exited {rc} without finishing:\n{stderr}")
            log(f"kill {stats.kills}: " + ("mid-write" if aim and delay == 0.0 else f"after {delay:.1f}s")
                + f", {phase(out)}")
        log(f"episode {stats.episodes}: completed, outputs identical to the reference")
    stats.seconds = time.perf_counter() - started
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="pool size (examples/make_demo_data.py)")
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--select", type=int, default=2000, help="-n for the runs")
    ap.add_argument("--mid-write", type=float, default=0.0,
                    help="share of invocations killed the moment a temp file appears (mid-write)")
    ap.add_argument("--streaming", action="store_true", help="run with --streaming on (chunk by chunk)")
    ap.add_argument("--parallel-min", type=int, default=None,
                    help="engine.parallel_min for the runs (lower it so a small pool forks workers)")
    ap.add_argument("--workers", default=None, help="--workers for the runs (default: the config's, auto)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sft-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    pool, target = make_demo(work / "data", args.n, args.seed)
    try:
        stats = crash_loop(pool, target, work, kills=args.kills, seed=args.seed, n_select=args.select,
                           mid_write=args.mid_write, streaming=args.streaming, parallel_min=args.parallel_min,
                           workers=args.workers)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    figures = stats.as_dict()
    figures["byte_identical"] = stats.identical_final_outputs == stats.completed == stats.episodes
    figures["args"] = {k: str(v) for k, v in vars(args).items()}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
