"""Ctrl-C (SIGINT) and a scheduler's SIGTERM stop a run cleanly: one message, no traceback, exit 130 or
143, no temp file left, and the same command then resumes the run and finishes it."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from sft_select.io.atomic import is_temp
from sft_select.rundir.folder import MARKER

from .helpers import cli_cmd, cli_env, make_demo, run_cli


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 180) -> bool:
    """Poll the stderr file until `text` shows up; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return text in path.read_text(errors="replace")
        time.sleep(0.05)
    return False


def test_ctrl_c_and_sigterm_stop_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    pool, target = make_demo(tmp_path / "data", 5000)
    out = tmp_path / "run"
    args = ["run", pool, "--target", target, "-n", "500", "--views", "quality_heuristic,relevance_embedding",
            "--embedder", "hashing", "--out", out]
    for sig, code, word in [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]:
        err = tmp_path / f"stderr-{sig.name}.txt"
        with open(err, "w") as fh:
            # A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored: give
            # the child the default disposition, so the test does not depend on how pytest was launched.
            proc = subprocess.Popen(cli_cmd(*args), env=cli_env(), stdout=subprocess.DEVNULL, stderr=fh,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            # "Loaded" is printed once the run directory is prepared: the signal lands in real work.
            assert _wait_for(err, "Loaded", proc), err.read_text()
            proc.send_signal(sig)
            rc = proc.wait(timeout=120)
        finally:
            proc.kill()
        stderr = err.read_text(errors="replace")
        assert rc == code, f"{sig.name}: exit {rc}\n{stderr}"
        assert f"{word}: finished steps are cached; run the same command to resume" in stderr
        assert "Traceback" not in stderr, stderr
        assert (out / MARKER).exists() and not (out / "manifest.json").exists()
        assert not [p for p in out.rglob("*") if is_temp(p)], "an interrupted write left its temp file"

    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert "Resuming the unfinished run" in done.stderr
    assert (out / "manifest.json").exists() and (out / "selected.jsonl").exists()


def test_an_error_a_library_makes_of_the_interrupt_is_still_a_clean_stop(monkeypatch, capsys) -> None:
    """A KeyboardInterrupt raised while a library's C code runs can come out as that library's own error
    (seen once: numpy's TypeError about structured arrays, exit 1 with a traceback). After a stop signal
    the CLI treats any error as the stop; without one, the error stays an error."""
    import pytest
    import typer

    from sft_select.cli import app as cli

    def mangled() -> None:
        raise TypeError("Cannot compare structured arrays unless they have a common dtype.")

    with pytest.raises(TypeError):
        cli.guarded(mangled)()
    for sig, code, word in [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]:
        monkeypatch.setattr(cli, "_SIGNALS_SEEN", [sig])
        with pytest.raises(typer.Exit) as stop:
            cli.guarded(mangled)()
        assert stop.value.exit_code == code
        assert f"{word}: finished steps are cached" in capsys.readouterr().err
