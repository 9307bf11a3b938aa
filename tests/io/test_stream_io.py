"""A streaming run's reads of the input by row offsets: the sample parses only the rows it draws, and
the outputs pass gives the same files read whole, read by offsets, or split over worker processes."""
import json
import random

import numpy as np
import pandas as pd
import pytest
from tests.pipelines.test_stream import make_pool

from sft_select.core.errors import InputError
from sft_select.executors import pool as parallel
from sft_select.io.load import load
from sft_select.io.row_offsets import row_offsets, rows_at, rows_from
from sft_select.pipelines.streaming.outputs import write_stream_outputs
from sft_select.pipelines.streaming.source import Stream


def with_blank_lines(path):
    """Blank and whitespace-only lines are not rows: offsets must skip them as the readers do."""
    lines = path.read_text().splitlines(keepends=True)
    for at in (len(lines) - 3, len(lines) // 2, 7, 0):
        lines.insert(at, "\n" if at % 2 else "   \t\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture()
def two_files(tmp_path):
    return [with_blank_lines(make_pool(tmp_path / "a.jsonl", n=150, seed=1)),
            with_blank_lines(make_pool(tmp_path / "b.jsonl", n=90, seed=2))]


@pytest.fixture()
def plain_and_gzip(tmp_path, two_files):
    """The second file gzipped: its offsets are in the decompressed stream."""
    import gzip

    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(two_files[1].read_bytes()))
    return [two_files[0], gz]


def test_row_offsets_find_every_row_where_the_reader_does(two_files):
    whole = load(two_files, on_error="skip")
    for path in two_files:
        offsets = row_offsets(path)
        assert offsets is not None
        examples = [ex for ex in whole.examples if ex.source == str(path)]
        rows = [ex.row for ex in examples]
        again = [r for r in rows_at(offsets, rows)]
        assert [r.index for r in again] == rows
        assert [r.data for r in again] == [ex.original for ex in examples]
        unreadable = [r for r in whole.rejected if r.source == str(path) and r.line is not None]
        assert unreadable and all(offsets.lines[r.row] == r.line for r in unreadable)


def test_gzip_rows_are_found_by_their_decompressed_offsets(tmp_path, two_files):
    import gzip

    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(two_files[0].read_bytes()))
    plain, packed = row_offsets(two_files[0]), row_offsets(gz)
    assert np.array_equal(plain.starts, packed.starts) and np.array_equal(plain.lines, packed.lines)
    rows = [3, 40, 41, 100, len(packed) - 1]
    assert [r.data for r in rows_at(packed, rows)] == [r.data for r in rows_at(plain, rows)]
    assert [r.data for r in rows_from(packed, 50, 60)] == [r.data for r in rows_from(plain, 50, 60)]


def test_other_containers_have_no_offsets(tmp_path):
    csv = tmp_path / "pool.csv"
    csv.write_text("text,label\nhello,1\n")
    assert row_offsets(csv) is None


def test_sample_by_offsets_parses_only_drawn_rows_as_a_whole_read_would(two_files):
    whole = {(ex.source, ex.row): ex for ex in load(two_files, on_error="skip").examples}
    stream = Stream(two_files, on_error="skip")
    sample, n = stream.sample(60, seed=4)
    assert n == sum(len(row_offsets(p)) for p in two_files)  # rows, the two bad ones per file included
    assert set(stream.offsets) == {str(p) for p in two_files}
    assert 58 <= len(sample) <= 60  # a drawn bad row is left out
    assert [(ex.source, ex.row) for ex in sample] == sorted((ex.source, ex.row) for ex in sample)
    for ex in sample:
        ref = whole[(ex.source, ex.row)]
        assert (ex.turns, ex.text, ex.label, ex.format, ex.original) == (ref.turns, ref.text, ref.label, ref.format,
                                                                          ref.original)
        assert ex.id.split("~")[0] == ref.id.split("~")[0]  # content hash; repeats counted within the sample
    assert len({ex.id for ex in sample}) == len(sample)
    again, _ = Stream(two_files, on_error="skip").sample(60, seed=4)
    other, _ = Stream(two_files, on_error="skip").sample(60, seed=5)
    assert [ex.id for ex in again] == [ex.id for ex in sample]
    assert [ex.id for ex in other] != [ex.id for ex in sample]


def test_sample_by_offsets_is_uniform_over_rows(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"q {i}?", "output": f"a {i}."}) + "\n" for i in range(200)))
    counts = np.zeros(200)
    for seed in range(300):
        sample, n = Stream([path]).sample(20, seed)
        assert n == 200 and len(sample) == 20
        counts[[ex.row for ex in sample]] += 1
    # each row is drawn 30 times in expectation; halves and quarters of the file alike
    assert abs(counts[:100].sum() - counts[100:].sum()) < 0.06 * counts.sum()
    assert all(abs(q.sum() - counts.sum() / 4) < 0.06 * counts.sum() for q in np.split(counts, 4))
    assert counts.min() >= 10 and counts.max() <= 55


def test_a_pool_no_larger_than_the_sample_is_read_whole(two_files):
    stream = Stream(two_files, on_error="skip")
    sample, n = stream.sample(10_000, seed=0)
    assert not stream.offsets
    assert [ex.id for ex in sample] == [ex.id for ex in load(two_files, on_error="skip").examples]


def fake_table(stream: Stream, seed=0) -> pd.DataFrame:
    """A score table over the stream's examples: some selected, the others dropped with reasons, a few
    of those naming the duplicate kept in their place."""
    rng = random.Random(seed)
    examples = list(stream.examples())
    selected = [rng.random() < 0.3 for _ in examples]
    reasons = [None if s else rng.choice(["filter: too_short", "not selected", "near_duplicate"]) for s in selected]
    kept = [examples[0].id if r == "near_duplicate" else None for r in reasons]
    return pd.DataFrame({"id": [ex.id for ex in examples], "source": [ex.source for ex in examples],
                         "row": [ex.row for ex in examples], "selected": selected, "reason": reasons,
                         "kept_id": kept, "score": np.linspace(0, 1, len(examples))})


@pytest.mark.parametrize("write_selected", [True, False])
@pytest.mark.parametrize("gzipped", [False, True])
def test_outputs_are_the_same_read_whole_by_offsets_or_in_workers(tmp_path, two_files, plain_and_gzip,
                                                                   write_selected, gzipped):
    two_files = plain_and_gzip if gzipped else two_files
    stream = Stream(two_files, on_error="skip")
    table = fake_table(stream)
    shown = set(table["id"].iloc[::17])
    results = {}
    for mode in ("whole", "offsets", "workers"):
        stream.offsets = {} if mode == "whole" else {str(p): row_offsets(p) for p in two_files}
        with parallel.workers(2 if mode == "workers" else 1, min_items=2):
            outputs, loaded = write_stream_outputs(tmp_path / mode, table, stream, write_selected=write_selected,
                                                   report_ids=shown)
        results[mode] = {name: (tmp_path / mode / f).read_bytes() for name, f in outputs.items() if name != "scores"}
        results[mode]["shown"] = sorted((ex.id, ex.content) for ex in loaded.examples)
    assert results["whole"] == results["offsets"] == results["workers"]
    rejected = [json.loads(line) for line in results["whole"]["rejected"].splitlines()]
    # rows the reading rejected come first, as in-memory runs write them
    assert [r["reason"].split()[0].rstrip(":") for r in rejected[:4]] == ["invalid", "unreadable", "invalid",
                                                                          "unreadable"]
    assert len(results["whole"]["shown"]) == len(shown)
    assert not list(tmp_path.glob("*/.*"))  # no temp parts left behind


def test_a_changed_input_is_said_not_written(tmp_path, two_files):
    stream = Stream(two_files, on_error="skip")
    table = fake_table(stream)
    stream.offsets = {str(p): row_offsets(p) for p in two_files}
    two_files[1].write_text(two_files[1].read_text()[: 2000])  # cut short after the offsets were taken
    with parallel.workers(2, min_items=2), pytest.raises(InputError, match="changed"):
        write_stream_outputs(tmp_path / "out", table, stream, write_selected=True, report_ids=set())
    assert not (tmp_path / "out" / "rejected.jsonl").exists()
    assert not [p for p in (tmp_path / "out").glob("*") if p.name.startswith(".")]
