"""Work done while the input is read (io/read_ahead.py) gives exactly what the same work gives after it."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from sft_select.core.errors import InputError
from sft_select.core.record import content_hash
from sft_select.executors import pool as parallel
from sft_select.io.load import load
from sft_select.io.read_ahead import ReadAhead
from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.filters import apply_filters, filter_job

from .helpers import chat

BAD = [("Explain TCP.", ""), ("Summarize.", "I'm sorry, but as an AI language model I cannot help."),
       ("List fruits.", "Some fruits you could list are apples, pears, plums and"), ("Say hi.", "Say hi.")]
GOOD = [(f"Question number {i} about sorting lists?", f"Use sorted() on list {i}; it returns a new list.")
        for i in range(40)]


def _hashes(part):
    return [content_hash(ex.turns, ex.text, ex.label) for ex in part]


def test_jobs_run_while_the_list_grows_give_the_results_of_the_whole_list():
    cfg = FilterConfig()
    examples = [chat(p, r, row=i) for i, (p, r) in enumerate((GOOD + BAD) * 3)]
    reference = apply_filters(examples, range(len(examples)), cfg)
    assert len(reference) == 3 * len(BAD)
    with parallel.workers(2, min_items=5):
        ahead, read = ReadAhead({"filters": filter_job(cfg), "hash": _hashes}, every=10), []
        for ex in examples:
            read.append(ex)
            ahead.feed(read)
            if len(read) == 15:
                assert ahead.running is not None  # a worker took the first rows while reading went on
        done = ahead.finish()
    assert done["hash"] == _hashes(examples)
    known = dict(enumerate(done["filters"]))
    assert {p: r for p, r in known.items() if r} == reference
    assert apply_filters(examples, range(len(examples)), cfg, known=known) == reference
    some = {p: known[p] for p in range(0, len(examples), 3)}  # the step computes what is not known
    assert apply_filters(examples, range(len(examples)), cfg, known=some) == reference


def test_a_worker_takes_one_part_at_a_time_so_the_rest_is_shared_at_the_end():
    examples = [chat(p, r, row=i) for i, (p, r) in enumerate(GOOD * 5)]
    with parallel.workers(2, min_items=5):
        ahead, read, starts = ReadAhead({"hash": _hashes}, every=20), [], []
        for ex in examples:
            read.append(ex)
            ahead.feed(read)
            if not starts or starts[-1] != ahead.started:
                starts.append(ahead.started)
        done = ahead.finish()
    assert done["hash"] == _hashes(examples)
    assert starts[0] == 0 and starts[1] == 10  # nothing before `every` are read, then 10 (every // 2)
    assert all(b - a <= 10 for a, b in zip(starts, starts[1:]))


def _write(path, n: int, tail: str = ""):
    rows = [{"instruction": p + f" ({i})", "output": r} for i, (p, r) in enumerate((GOOD + BAD) * (n // 44 + 1))][:n]
    rows += rows[:5]  # repeats: ids get their ~k suffix in reading order
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def test_load_with_workers_gives_the_ids_and_filter_reasons_of_a_serial_load(tmp_path):
    pool = _write(tmp_path / "pool.jsonl", 300)
    job = filter_job(FilterConfig())
    serial = load([pool], alongside={"filters": job})
    assert serial.alongside == {}  # one process: nothing ran alongside, the filter step computes them
    with parallel.workers(2, min_items=50):
        par = load([pool], alongside={"filters": job})
    assert [ex.id for ex in par.examples] == [ex.id for ex in serial.examples]
    # every text joined in this process, before the workers that read it were forked
    assert all(ex._content is not None and ex._prompt is not None for ex in par.examples + serial.examples)
    assert any("~1" in ex.id for ex in par.examples)
    reference = apply_filters(serial.examples, range(len(serial.examples)), FilterConfig())
    assert {p: r for p, r in enumerate(par.alongside["filters"]) if r} == reference


def test_a_bad_row_after_work_started_alongside_stops_cleanly(tmp_path):
    pool = _write(tmp_path / "pool.jsonl", 300, tail=json.dumps({"instruction": "ok?", "output": 7}) + "\n")
    with parallel.workers(2, min_items=50), pytest.raises(InputError, match="line 306"):
        load([pool], alongside={"filters": filter_job(FilterConfig())})
    assert not multiprocessing.active_children()
