"""A run directory is a folder sft-select created (it holds the marker): --force replaces only that, a
resume removes only the temp files the tool wrote, and symlinks planted in it are never followed out.

Before the fix `--force` on any folder deleted the user's files that shared an output's name
(config.yaml, report.html, a whole selected.hf/ tree) and every `.*.tmp` in it and in cache/; a `cache`
or marker symlink was written through.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.core.errors import RunDirError
from sft_select.io.atomic import atomic_open, is_temp
from sft_select.rundir.folder import MARKER, prepare, release


def _pool(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pool = folder / "pool.jsonl"
    rows = [{"instruction": f"Question number {i} about topic {i % 7}?",
             "output": f"A reasonably detailed answer {i} " * 3} for i in range(40)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return pool


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every path under `folder` (not following links) with its bytes, or its link target."""
    snap: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            snap[rel] = "-> " + str(p.readlink())
        elif p.is_file():
            snap[rel] = p.read_bytes()
        else:
            snap[rel] = "dir"
    return snap


def _run(pool: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["run", str(pool), "-n", "5", "--views", "quality_heuristic", "-q",
                                    "--out", str(out), *extra])


def test_force_on_a_folder_that_is_not_a_run_deletes_nothing(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "data")
    user = tmp_path / "mine"
    for name, text in [("config.yaml", "my: config\n"), ("report.html", "<p>my report</p>"),
                       ("summary.json", "{}"), ("manifest.json", '{"mine": 1}'), ("selected.hf/x", "data"),
                       (".foo.tmp", "mine"), (".scores.parquet.abcd1234.tmp", "looks like ours, is not"),
                       ("cache/.bar.tmp", "mine"), ("notes.txt", "keep")]:
        (user / name).parent.mkdir(parents=True, exist_ok=True)
        (user / name).write_text(text)
    before = _snapshot(user)

    for extra in (["--force"], []):
        result = _run(pool, user, *extra)
        assert result.exit_code == 2, result.output
        assert "not an sft-select run" in result.output and "Traceback" not in result.output
        assert _snapshot(user) == before, f"{extra}: the user's files were touched"
    with pytest.raises(RunDirError, match="--force replaces only a run directory"):
        prepare(user, force=True)
    assert _snapshot(user) == before

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(pool, empty, "--force").exit_code == 0  # an empty folder is fine, as before


def test_resume_removes_only_the_temp_files_the_tool_wrote(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare(out, force=False)
    release(out)
    with pytest.raises(KeyboardInterrupt):  # a real temp file, as a killed write leaves it
        with atomic_open(out / "cache" / "v-1.parquet") as fh:
            fh.write("half")
            leftover = Path(fh.name)
            raise KeyboardInterrupt
    assert not leftover.exists()  # an interrupted write cleans up; plant one as a SIGKILL leaves it
    leftover.write_text("half")
    assert is_temp(leftover)
    users = [out / ".foo.tmp", out / ".notes.tmp", out / "cache" / ".bar.tmp", out / "keep.tmp"]
    for p in users:
        p.write_text("mine")
    assert prepare(out, force=True) is False
    release(out)
    assert not leftover.exists()
    assert all(p.read_text() == "mine" for p in users), "a file the tool did not write was removed"


@pytest.mark.parametrize("planted", ["cache", MARKER, "cache/v-1.parquet", "cache/v-1.parts"])
def test_a_symlink_planted_in_the_run_directory_is_refused(tmp_path: Path, planted: str) -> None:
    pool = _pool(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    assert _run(pool, out).exit_code == 0  # a real, finished run
    (out / "manifest.json").unlink()  # unfinished: the next run resumes it
    link = out / planted
    if link.is_dir() and not link.is_symlink():
        for p in sorted(link.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        link.rmdir()
    else:
        link.unlink(missing_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    target = elsewhere / "target"
    if planted in ("cache", "cache/v-1.parts"):
        target.mkdir()
    link.symlink_to(target, target_is_directory=target.is_dir())

    for extra in ([], ["--force"]):
        result = _run(pool, out, *extra)
        assert result.exit_code == 2, result.output
        assert "is a symlink" in result.output and "Traceback" not in result.output
        with pytest.raises(RunDirError, match="is a symlink"):
            prepare(out, force=bool(extra))
    assert _snapshot(elsewhere) == ({"target": "dir"} if target.is_dir() else {}), "written outside the run"
    assert link.is_symlink()
