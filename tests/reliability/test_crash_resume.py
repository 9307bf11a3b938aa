"""Crash safety: SIGKILL at random points leaves only complete files, and the next run resumes.

The kill loop is bench/crash_loop.py (50+ kills for docs/reliability.md); here it runs 5 kills on a
small pool. The other tests pin the pieces it relies on: chunk checkpoints, temp-file cleanup, the
run-directory lock, and atomic writes that leave the old file whole when interrupted.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sft_select.core.errors import RunDirError
from sft_select.core.record import Example, Turn
from sft_select.executors.local import LocalExecutor
from sft_select.io.atomic import atomic_open, atomic_path, is_temp
from sft_select.rundir.folder import MARKER, prepare, release
from sft_select.scoring import driver as scoring
from sft_select.views.base import View, ViewResult

from .helpers import SRC, load_script, make_demo


def test_kill_loop_resumes_and_never_leaves_a_partial_file(tmp_path: Path) -> None:
    crash = load_script("bench/crash_loop.py")
    pool, target = make_demo(tmp_path / "data", 1500)
    stats = crash.crash_loop(pool, target, tmp_path, kills=5, seed=1, n_select=200, min_frac=0.2, max_frac=1.0,
                             log=lambda *_: None)
    assert stats.kills >= 5
    assert stats.completed == stats.episodes == stats.identical_final_outputs >= 1
    assert stats.files_checked > 0


class CountingView(View):
    """A view that records which examples it scored and can stop (like Ctrl-C) after some batches."""

    name = "counting_test"
    group = "quality"

    def __init__(self, *, stop_after: int = -1):
        self.stop_after = stop_after

    def fit(self, pool, target=None):
        self.scored_: list[str] = []
        return self

    def score_batch(self, batch):
        if 0 <= self.stop_after <= len(self.scored_) // 4:
            raise KeyboardInterrupt
        self.scored_.extend(ex.id for ex in batch)
        return ViewResult(np.array([len(ex.content) for ex in batch], dtype=float), [ex.id for ex in batch])


def _pool(n: int) -> list[Example]:
    return [Example(id=f"id{i:03d}", source="s", row=i, format="alpaca", original={},
                    turns=(Turn("user", f"q{i}"), Turn("assistant", "a" * i))) for i in range(n)]


def test_a_view_resumes_from_its_last_checkpoint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "CHECKPOINT_BATCHES", 1)
    monkeypatch.setattr(scoring, "CHECKPOINT_MIN_EXAMPLES", 1)
    pool, executor = _pool(22), LocalExecutor()
    full = scoring.score_view(CountingView(), pool, None, executor, batch_size=4)

    parts = tmp_path / "v.parts"
    with pytest.raises(KeyboardInterrupt):  # stops in the 4th batch: 3 chunks of 4 are saved
        scoring.score_view(CountingView(stop_after=3), pool, None, executor, batch_size=4, checkpoints=parts)
    saved = sorted(p.name for p in parts.iterdir())
    assert saved == ["000000000000-000000000004.parquet", "000000000004-000000000008.parquet",
                     "000000000008-000000000012.parquet"]

    view = CountingView()
    resumed = scoring.score_view(view, pool, None, executor, batch_size=4, checkpoints=parts)
    assert view.scored_ == [ex.id for ex in pool[12:]], "finished chunks were scored again"
    np.testing.assert_array_equal(resumed.raw, full.raw)
    assert resumed.reasons == full.reasons


def test_a_checkpoint_for_other_examples_is_not_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "CHECKPOINT_BATCHES", 1)
    monkeypatch.setattr(scoring, "CHECKPOINT_MIN_EXAMPLES", 1)
    parts = tmp_path / "v.parts"
    scoring.score_view(CountingView(), _pool(8), None, LocalExecutor(), batch_size=4, checkpoints=parts)
    other = [Example(id=f"other{i}", source="s", row=i, format="alpaca", original={},
                     turns=(Turn("user", "q"), Turn("assistant", "b" * (i + 50)))) for i in range(8)]
    view = CountingView()
    result = scoring.score_view(view, other, None, LocalExecutor(), batch_size=4, checkpoints=parts)
    assert view.scored_ == [ex.id for ex in other]
    assert result.raw.tolist() == [float(len(ex.content)) for ex in other]


def test_score_all_drops_checkpoints_once_the_view_is_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "CHECKPOINT_MIN_EXAMPLES", 1)
    monkeypatch.setattr(scoring, "CHECKPOINT_BATCHES", 1)
    monkeypatch.setattr(CountingView, "default_batch_size", 4)
    pool = _pool(10)
    first = scoring.score_all([CountingView()], pool, None, LocalExecutor(), tmp_path)
    assert not first.scores[0].cached
    assert [p.suffix for p in tmp_path.iterdir()] == [".parquet"], "checkpoints left after the view finished"
    view = CountingView()
    again = scoring.score_all([view], pool, None, LocalExecutor(), tmp_path)
    assert again.scores[0].cached and not hasattr(view, "scored_"), "a cached view was fit or scored again"


def test_resume_removes_temp_files_a_kill_left(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare(out, force=False)
    release(out)
    # The names the package's writes use (io/atomic.py): atomic_path's, and the parts workers write.
    leftovers = [out / ".scores.parquet.abc12_yz.tmp", out / "cache" / ".v-1.parquet.x0x0x0x0.tmp",
                 out / "cache" / "v-1.parts" / ".000-004.parquet.y1y1y1y1.tmp",
                 out / "cache" / "tune" / ".0a1b.json.z2z2z2z2.tmp",
                 out / "cache" / "stream-v3-abc" / ".0.parquet.w3w3w3w3.tmp",
                 out / ".rejected.jsonl.4242.part0.tmp", out / ".rejected.jsonl.stream5000.tmp"]
    for p in leftovers:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    keep = out / "cache" / "v-1.parts" / "000-004.parquet"
    keep.write_bytes(b"complete")
    kept_evaluation = out / "cache" / "tune" / "0a1b.json"
    kept_evaluation.write_bytes(b"{}")
    assert prepare(out, force=False) is True  # marker, no manifest: an interrupted run, resumed
    release(out)
    assert not any(p.exists() for p in leftovers)
    assert keep.exists() and kept_evaluation.exists()


def test_force_removes_the_manifest_so_a_half_cleaned_run_reads_as_unfinished(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare(out, force=False)
    release(out)
    for name in ("manifest.json", "selected.jsonl", "scores.parquet"):
        (out / name).write_text("{}")
    with pytest.raises(RunDirError, match="finished run"):
        prepare(out, force=False)
    assert prepare(out, force=True) is False
    release(out)
    assert not (out / "manifest.json").exists() and not (out / "selected.jsonl").exists()


def test_a_second_process_cannot_write_the_same_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from sft_select.rundir.folder import prepare;"
         f"prepare(Path({str(out)!r}), force=False); print('held', flush=True); time.sleep(60)"],
        env={"PYTHONPATH": str(SRC)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match="another sft-select process"):
            prepare(out, force=False)
        with pytest.raises(RunDirError, match="another sft-select process"):
            prepare(out, force=True)
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with the process (even on SIGKILL): the run can be resumed at once.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert prepare(out, force=False) is True
            break
        except RunDirError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    release(out)
    assert (out / MARKER).exists()


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "scores.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as fh:
            fh.write("new, half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if is_temp(p)]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "folder.hf", is_dir=True) as tmp:
            (tmp / "part").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [target]


def test_outputs_get_normal_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "selected.jsonl"
    with atomic_open(target) as fh:
        fh.write("{}\n")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask, "mkstemp's 0600 leaked into an output"


WRITE_CALL = re.compile(r"\.(to_parquet|to_csv|to_json|save_to_disk|write_text|write_bytes|savez?|savetxt)\(|"
                        r"\bnp\.save\w*\(|\bopen\([^)]*['\"][wax]b?\+?['\"]")


def test_every_file_the_package_writes_goes_through_an_atomic_temp_path() -> None:
    """A write straight to its final name could be left half-written by a kill: write to the `tmp` that
    io.atomic.atomic_path yields (or through atomic_open / write_json) instead."""
    assert WRITE_CALL.search("out.write_text(x)") and WRITE_CALL.search('open(out, "w")')
    assert not WRITE_CALL.search('open(path, "rb")')
    hits = []
    for path in sorted((SRC / "sft_select").rglob("*.py")):
        if path.name == "atomic.py" and path.parent.name == "io":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            code = line.split("#", 1)[0]
            if WRITE_CALL.search(code) and not re.search(r"\b(tmp|fh)\b", code):
                hits.append(f"{path.relative_to(SRC)}:{no}: {line.strip()}")
    assert not hits, "non-atomic writes:\n" + "\n".join(hits)
