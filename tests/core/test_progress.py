"""Progress: bars for every long step (shown by elapsed time, not item count) with elapsed time and an ETA,
within 80 columns, plain status lines off a terminal, nothing under --quiet; and --quiet silences the
bars of the libraries we load models with. Time comes from a fake clock: no assertion depends on speed."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console

from sft_select.core import bars, progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(bars, "clock", fake)
    progress.configure()
    yield fake
    assert not bars._open and bars._live is None  # every bar closed, the live display stopped


def terminal(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, record=True, force_terminal=True, color_system="truecolor")


def log_console() -> Console:
    return Console(file=io.StringIO(), width=80, force_terminal=False)


def rows(width: int = 80) -> list[str]:
    """What the live display draws now, rendered at `width` columns."""
    out = terminal(width)
    out.print(bars.Board())
    return [line.rstrip() for line in out.export_text().splitlines()]


def test_a_step_with_few_items_gets_a_bar_once_it_has_run_two_seconds(clock, monkeypatch):
    monkeypatch.setattr(progress, "console", terminal())
    with progress.progress_bar("scoring difficulty_ifd", total=300) as advance:
        clock.now += 1.0
        advance(0)
        assert rows() == []  # a step this short shows nothing
        clock.now += bars.SHOW_AFTER
        advance(100)  # 3 s in, a third done: elapsed 0:03, two thirds left at that rate
        assert bars._live is not None
        (row,) = rows()
        assert row.startswith("scoring difficulty_ifd ") and "━" in row
        assert row.endswith("100/300 0:03 elapsed, ETA 0:06")


def test_a_quick_step_prints_nothing(clock, monkeypatch):
    out = terminal()
    monkeypatch.setattr(progress, "console", out)
    with progress.progress_bar("scoring", total=1_000_000) as advance:
        advance(1_000_000)
    assert out.export_text() == "" and bars._live is None


def test_a_step_that_never_advances_is_shown_by_its_watcher(clock, monkeypatch):
    """A single batch can run for minutes: the watcher thread's tick shows the bar without an advance."""
    monkeypatch.setattr(progress, "console", terminal())
    with progress.progress_bar("LM forward passes", total=5):
        bar = bars._open[-1]
        bar.tick()
        assert not bar.shown
        clock.now += bars.SHOW_AFTER
        bar.tick()  # what the watcher does SHOW_AFTER seconds after the step starts
        assert bar.shown
        assert rows()[0].endswith("0/5 0:02 elapsed, ETA -:--")


def test_every_bar_fits_80_columns_and_the_description_gives_way(clock, monkeypatch):
    monkeypatch.setattr(progress, "console", terminal())
    views = "difficulty_ifd, difficulty_loss, quality_fluency, quality_heuristic, relevance_embedding"
    with progress.progress_bar(f"scoring {views}", total=1_234_567) as outer:
        with progress.progress_bar("LM forward passes of 512 examples, tokens", total=98_765_432,
                                   show_after=0) as inner:
            clock.now += 3 * 3600  # hours: the widest times
            outer(1000)
            inner(10)
            drawn = rows(80)
            assert len(drawn) == 2
            for line in drawn:
                assert cell_len(line) <= 80
                assert "━" * bars.BAR_CELLS[0] in line  # the bar is drawn, at least its minimum width
            assert drawn[0].startswith("scoring difficulty_") and "…" in drawn[0]
            assert "1k/1.2M 3:00:00 elapsed, ETA " in drawn[0]
            assert "0k/98.8M" in drawn[1]
            assert all(cell_len(line) <= bars.MAX_WIDTH for line in rows(200))  # no wider on a wide screen


def test_off_a_terminal_status_lines_not_control_characters(clock, monkeypatch):
    out = log_console()
    monkeypatch.setattr(progress, "console", out)
    with progress.progress_bar("scoring quality_label", total=7530) as advance:
        clock.now += bars.SHOW_AFTER
        advance(1024)
        clock.now += 1
        advance(1024)  # within LOG_EVERY of the last line: no new one
        clock.now += bars.LOG_EVERY
        advance(1024)
    text = out.file.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines() == ["scoring quality_label: 1024/7530 (13%), 0:02 elapsed, ETA 0:12",
                                 "scoring quality_label: 3072/7530 (40%), 0:33 elapsed, ETA 0:47"]


def test_status_lines_fit_80_columns(clock):
    bar = bars.Bar("x" * 200, total=10, console=log_console())
    bar.advance(3)
    line = bar.status(clock.now + 5, 80)
    assert cell_len(line) <= 80 and line.endswith(": 3/10 (30%), 0:05 elapsed, ETA 0:11") and "…" in line


def test_a_description_shows_control_characters_as_escapes(clock):
    """A model path is user input: ESC in it must not reach the terminal (docs/reliability.md)."""
    bar = bars.Bar("embedding with /tmp/\x1b[2Jx", total=1, console=log_console())
    assert "\x1b" not in bar.status(clock.now, 80) and "\\x1b" in bar.status(clock.now, 80)


def test_quiet_shows_no_bar(clock, monkeypatch):
    out = terminal()
    monkeypatch.setattr(progress, "console", out)
    progress.configure(quiet=True)
    try:
        with progress.progress_bar("scoring", total=3, show_after=0) as advance:
            advance(1)
            assert not bars._open
    finally:
        progress.configure()
    assert out.export_text() == ""


def test_work_counted_in_other_processes_moves_the_bar(clock, monkeypatch):
    monkeypatch.setattr(progress, "console", terminal())
    done = np.zeros(4, dtype=np.int64)
    with progress.progress_bar("embedding", total=40, show_after=0, poll=lambda: int(done.sum())) as advance:
        done[:2] = 10
        advance(5)
        clock.now += 5
        assert rows()[0].endswith("25/40 0:05 elapsed, ETA 0:03")


def test_parallel_windows_count_each_batch_as_it_ends(monkeypatch):
    """A window of forked workers reports every finished batch through shared memory, so the scoring bar
    moves while a window runs (it stood at 0/7530 until the whole window was done)."""
    from sft_select.executors import local
    from sft_select.executors import pool as parallel
    from sft_select.executors.local import LocalExecutor

    polls = []

    class Recorder:
        def __init__(self, desc, total, poll=None):
            self.poll = poll

        def __enter__(self):
            return lambda n: polls.append(("here", n))

        def __exit__(self, *exc):
            polls.append(("workers", self.poll() if self.poll else 0))

    monkeypatch.setattr(local, "progress_bar", Recorder)
    monkeypatch.setattr(local, "WINDOW_BATCHES", 1)
    with parallel.workers(2, min_items=2):
        got = [c["x"].tolist() for c in LocalExecutor().map_batches(lambda b: {"x": np.array(b)}, list(range(48)),
                                                                     batch_size=8, desc="scoring")]
    assert sum(got, []) == list(range(48))
    assert polls == [("workers", 48)]  # every batch counted by the workers, none twice


def test_the_out_of_fold_fit_advances_by_fold(monkeypatch):
    from sft_select.core.record import Example
    from sft_select.views import oof

    seen = {}

    class Recorder:
        def __init__(self, desc, total):
            seen["desc"], seen["total"], seen["done"] = desc, total, 0

        def __enter__(self):
            return lambda n: seen.__setitem__("done", seen["done"] + n)

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(oof, "progress_bar", Recorder)
    words = {"a": "apple banana cherry", "b": "engine wheel brake"}
    pool = [Example(id=f"e{i}", source="t", row=i, format="text", original={}, text=f"{words[lab]} {i}", label=lab)
            for i, lab in enumerate("ab" * 10)]
    oof.ProxyFit.fit(pool, model="hashing", folds=4, seed=0, C=1.0)
    assert seen["total"] == 4 and seen["done"] == 4 and "out-of-fold" in seen["desc"]


def test_times_read_like_a_clock():
    assert bars.duration(5) == "0:05" and bars.duration(754) == "12:34" and bars.duration(3 * 3600 + 61) == "3:01:01"
    assert bars.count(4096, 7530) == "4096/7530" and bars.count(41_000, 123_456) == "41k/123k"


def test_quiet_turns_off_transformers_progress_bars() -> None:
    code = ("from sft_select.core import progress; progress.configure(quiet=True); "
            "import transformers.utils.logging as l; print(l.is_progress_bar_enabled())")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
    code = code.replace("quiet=True", "quiet=False")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "True"


def test_quiet_after_transformers_is_imported_also_turns_them_off(monkeypatch) -> None:
    import transformers.utils.logging as hf_logging

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    hf_logging.enable_progress_bar()
    try:
        progress.configure(quiet=True)
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        progress.configure()
        hf_logging.enable_progress_bar()
