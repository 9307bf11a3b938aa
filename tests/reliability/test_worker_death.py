"""`kill -9` of a run with forked workers: the workers die with it, and the same command resumes at once.

Before the fix a worker kept the read end of its own result pipe, so once the parent was gone its
`send` blocked forever; it also held the run directory's flock (inherited across fork), so the resume
was refused with "another sft-select process is writing this run directory".
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .helpers import cli_cmd, cli_env, load_script, make_demo, run_cli

REFUSED = "another sft-select process"


# The kill loop's own /proc helpers (zombies left out: dead, holding no file and no lock; an orphan's zombie
# can linger where PID 1 does not reap).
_crash = load_script("bench/crash_loop.py")
_group, _children, _survivors = _crash.group_alive, _crash.children, _crash.survivors_after


def test_killed_run_leaves_no_worker_and_no_lock_and_resumes(tmp_path: Path) -> None:
    pool, target = make_demo(tmp_path / "data", 20000)
    config = tmp_path / "config.yaml"
    config.write_text("engine: {parallel_min: 500}\n")  # fork workers for every step of this pool

    def args(out: Path) -> list:
        return ["run", pool, "--target", target, "-n", "2000", "--views", "quality_heuristic,relevance_embedding",
                "--embedder", "hashing", "--workers", "2", "--config", config, "--out", out]

    clean = run_cli(*args(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr

    out = tmp_path / "run"
    # Kill the parent: the moment it has forked workers, a little after, and at fixed times.
    kills = [("workers", 0.0), ("workers", 0.3), ("time", 1.5), ("time", 3.0)]
    killed = 0
    for trigger, delay in kills:
        proc = subprocess.Popen(cli_cmd(*args(out)), env=cli_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if trigger == "workers":
                while proc.poll() is None and not _children(proc.pid):
                    time.sleep(0.005)
            time.sleep(delay)
            if proc.poll() is not None:  # finished before the kill
                stderr = proc.communicate()[1]
                assert proc.returncode == 0 and REFUSED not in stderr, stderr
                break
            proc.kill()
            proc.wait()
            killed += 1
            alive = _survivors(proc.pid)
            assert not alive, f"kill {killed} ({trigger} +{delay}s): workers {alive} outlived the run by 2 s"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever a failed check left
            except ProcessLookupError:
                pass
            proc.wait()
    assert killed >= 2, "the runs finished before they could be killed: the pool is too small"

    done = run_cli(*args(out))
    assert REFUSED not in done.stderr, "the killed run's lock outlived it"
    assert done.returncode == 0, done.stderr
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), f"{name} differs"
