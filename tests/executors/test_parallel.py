"""Worker processes (engine.workers) change no number: a parallel run writes the serial run's files."""
import pandas as pd
import pytest
from tests.pipelines.test_stream import make_pool

from sft_select.config.schema import build_config
from sft_select.core.errors import InputError
from sft_select.executors import pool as parallel
from sft_select.pipelines.in_memory import run
from sft_select.views.base import View


def test_split_covers_the_range_in_whole_multiples():
    for n, parts, multiple in [(10, 3, 1), (100, 4, 7), (5, 8, 2), (1, 2, 1), (64, 4, 16)]:
        ranges = parallel.split(n, parts, multiple)
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a == prev_b for (a, _), (_, prev_b) in zip(ranges[1:], ranges))
        assert all((b - a) % multiple == 0 for a, b in ranges[:-1])
        assert len(ranges) <= parts


def _lengths(items):
    return [len(x) for x in items]


def _fail_on_bad(items):
    for x in items:
        if x == "bad":
            raise InputError("pool.jsonl", "cannot read this row", line=7, field="output")
    return len(items)


def test_map_parts_runs_serially_when_not_worth_it():
    items = ["a"] * 50
    assert parallel.map_parts(_lengths, items) is None  # no workers() block: one process
    with parallel.workers(2, min_items=100):
        assert parallel.map_parts(_lengths, items) is None  # below min_items
    with parallel.workers(1, min_items=2):
        assert parallel.map_parts(_lengths, items) is None


def test_map_parts_in_workers_keeps_order_and_errors():
    items = [str(i) * (i % 5) for i in range(101)]
    with parallel.workers(2, min_items=2):
        parts = parallel.map_parts(_lengths, items, multiple=10)
        assert parts is not None and len(parts) >= 2
        assert [x for part in parts for x in part] == _lengths(items)
        with pytest.raises(InputError) as err:
            parallel.map_parts(_fail_on_bad, ["ok"] * 20 + ["bad"] + ["ok"] * 20)
    assert (err.value.path, err.value.line, err.value.field) == ("pool.jsonl", 7, "output")
    assert "line 7" in str(err.value)


def _full_collections(items):
    """How many objects the worker's collections walk (gc.get_objects leaves frozen ones out)."""
    import gc

    return len(gc.get_objects())


def test_workers_do_not_walk_the_inherited_heap_and_the_parent_unfreezes():
    import gc

    heap = [{"row": i} for i in range(50_000)]  # tracked objects the workers inherit
    with parallel.workers(2, min_items=2):
        parts = parallel.map_parts(_full_collections, list(range(10)))
        with parallel.workers(1):  # a step's own block inside the run's leaves them frozen
            pass
        assert gc.get_freeze_count() >= len(heap)  # frozen in the parent while the run lasts
    assert parts is not None and max(parts) < len(heap)  # a worker's full collection skips them
    assert gc.get_freeze_count() == 0  # and collectable again after it
    del heap


def _die(items):
    import os

    if "die" in items:
        os._exit(9)  # as the kernel's out-of-memory killer would end it: no result, no exception
    return len(items)


def test_a_worker_that_dies_is_an_error_not_a_hang():
    with parallel.workers(2, min_items=2):
        with pytest.raises(parallel.WorkerDied, match="exit code 9"):
            parallel.map_parts(_die, ["ok"] * 10 + ["die"])
        assert parallel.map_parts(_die, ["ok"] * 11) == [5, 6]  # the next step forks afresh


def _inherited(items):
    """In a worker: what it still holds of the parent's run-directory locks and result pipes."""
    import os

    from sft_select.rundir import folder as rundir

    lock_fd = items[0]
    try:
        os.fstat(lock_fd)
        still_open = True
    except OSError:
        still_open = False
    return dict(rundir._LOCKS), len(parallel._receivers), still_open


def test_workers_close_the_parents_lock_files_and_pipes_and_the_lock_stays(tmp_path):
    import fcntl
    import os

    from sft_select.rundir import folder as rundir

    out = tmp_path / "run"
    rundir.prepare(out, force=False)
    try:
        lock_fd = rundir._LOCKS[out.resolve()]
        with parallel.workers(2, min_items=2):
            parts = parallel.map_parts(_inherited, [lock_fd] * 4)
        assert parts == [({}, 0, False), ({}, 0, False)]
        other = os.open(out / rundir.MARKER, os.O_RDWR)  # a second open file: refused while we hold it
        try:
            with pytest.raises(OSError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
        assert not parallel._receivers  # every pipe's receiving end closed once its worker was done
    finally:
        rundir.release(out)


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = (
        "import time\n"
        "from sft_select.executors import pool as parallel\n"
        "def slow(items):\n"
        "    time.sleep(60)\n"
        "    return ['x' * 100] * 100_000\n"
        "with parallel.workers(2, min_items=2):\n"
        "    parts = parallel.start_parts(slow, list(range(10)))\n"
        "    print('started', flush=True)\n"
        "    parts.results()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(Path(parallel.__file__).parents[2])))
    try:
        assert proc.stdout.readline().strip() == "started"
        kids = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert len(kids) == 2
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 2
        alive = kids
        while alive and time.monotonic() < deadline:
            alive = [k for k in kids if _alive(k)]
            time.sleep(0.05)
        assert not alive, "workers outlived their killed parent"
    finally:
        for k in locals().get("kids", []):
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid):
    """Running, not a zombie (an orphan's zombie can linger where PID 1 does not reap it)."""
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def cfg_for(workers, streaming):
    return build_config({
        "input": {"on_error": "skip"},
        "embedding": {"model": "hashing"},
        "engine": {"workers": workers, "parallel_min": 2, "streaming": streaming, "chunk_size": 97},
        "select": {"n": 40, "strategy": "greedy", "tau_div": 0.9},
        "report": {"enabled": False},
    })


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_parallel_run_equals_serial_run(tmp_path, monkeypatch, streaming):
    monkeypatch.setattr(View, "default_batch_size", 16)  # several batches per view even on 300 rows
    src = make_pool(tmp_path / "pool.jsonl", n=300)
    target = make_pool(tmp_path / "target.jsonl", n=12, seed=9, bad_rows=False)
    serial = run([src], tmp_path / "one", cfg_for(1, streaming), target=target)
    used = []

    def spy(real):
        def forks(self, fn, items, **kw):
            out = real(self, fn, items, **kw)
            used.append(out is not None)
            return out
        return forks

    # every parallel step starts its workers through one of these two (map_parts through start_parts)
    monkeypatch.setattr(parallel.WorkerPool, "start_parts", spy(parallel.WorkerPool.start_parts))
    monkeypatch.setattr(parallel.WorkerPool, "background", spy(parallel.WorkerPool.background))
    par = run([src], tmp_path / "two", cfg_for(2, streaming), target=target)
    assert sum(used) >= 4  # filters, shingles, embeddings and the views (one scoring pass) really went to the workers
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "two" / "scores.parquet"))
    assert serial.manifest["counts"] == par.manifest["counts"]
    # each view's cache file (written by a worker in memory runs), the same as the serial run's
    caches = sorted(p.name for p in (tmp_path / "two" / "cache").iterdir() if p.suffix == ".parquet")
    assert caches == sorted(p.name for p in (tmp_path / "one" / "cache").iterdir() if p.suffix == ".parquet")
    assert len(caches) == len(par.manifest["views"]["used"]) or streaming == "on"
    for name in caches:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "cache" / name),
                                      pd.read_parquet(tmp_path / "two" / "cache" / name))
    assert not list((tmp_path / "two" / "cache").glob("*.parts"))


def test_a_bad_row_while_the_filters_run_in_the_background_stops_cleanly(tmp_path):
    """The filters start in a forked worker while the input is still read (FilterPrefetch); a bad row
    later in the file still stops the run with its line number, leaves no worker behind and writes no
    outputs."""
    import json
    import multiprocessing

    from sft_select.core.errors import InputError

    src = make_pool(tmp_path / "pool.jsonl", n=300, bad_rows=False)
    with open(src, "a") as fh:
        fh.write(json.dumps({"instruction": "ok?", "output": 7}) + "\n")
    cfg = cfg_for(2, "off").model_copy(update={"input": build_config({}).input})  # on_error: fail
    with pytest.raises(InputError, match="line 301"):
        run([src], tmp_path / "out", cfg)
    assert not multiprocessing.active_children()
    assert not (tmp_path / "out" / "scores.parquet").exists()
