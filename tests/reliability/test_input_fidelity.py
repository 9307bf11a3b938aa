"""Output fidelity (issue #23): the selected file is the input's rows as they were, in the input's own
schema and as valid JSON, whatever exotic types or numbers the input held; labels that are one number
are one class."""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sft_select.io.load import load_file
from sft_select.io.writers import rejected_lines, write_rows

if TYPE_CHECKING:
    import pyarrow as pa

ROWS = [{"instruction": f"How do I sort list number {i} in Python, step by step?",
         "output": f"Call sorted() on list {i}; it returns a new sorted list and leaves list {i} alone."}
        for i in range(8)]


def strict_json(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity, as every strict JSON reader does."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def exotic_parquet(path: Path) -> pa.Table:
    """A map<string,int64> column, narrow int and float types, and a column null in all rows but one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(ROWS)
    table = pa.table({
        "instruction": pa.array([r["instruction"] for r in ROWS], pa.string()),
        "output": pa.array([r["output"] for r in ROWS], pa.large_string()),
        "meta": pa.array([[("k", i), ("j", -i)] for i in range(n)], pa.map_(pa.string(), pa.int64())),
        "score": pa.array(range(n), pa.int32()),
        "weight": pa.array([i / 2 for i in range(n)], pa.float32()),
        "note": pa.array([None] * (n - 1) + ["only the last"], pa.string()),
    })
    pq.write_table(table, path)
    return table


def test_parquet_rows_are_written_from_the_input_table(tmp_path):
    """Before: `pa.Table.from_pylist` failed on the map column (ArrowTypeError) and widened the types
    (int32 -> int64, float32 -> double, an all-null column -> null)."""
    import pyarrow.parquet as pq

    src = tmp_path / "pool.parquet"
    table = exotic_parquet(src)
    loaded = load_file(src)
    picked = [loaded.examples[i].original for i in (5, 0, 2)]  # `note` is null in all three
    written = write_rows(picked, tmp_path / "selected", "parquet")
    back = pq.read_table(written)
    assert back.schema == table.schema
    assert back.to_pylist() == table.take([5, 0, 2]).to_pylist()


def test_parquet_rows_survive_pickling(tmp_path):
    """A streaming run's workers send the selected rows back pickled: they keep where they came from."""
    import pyarrow.parquet as pq

    src = tmp_path / "pool.parquet"
    table = exotic_parquet(src)
    rows = pickle.loads(pickle.dumps([ex.original for ex in load_file(src).examples][:3]))
    back = pq.read_table(write_rows(rows, tmp_path / "selected", "parquet"))
    assert back.schema == table.schema and back.num_rows == 3


def test_parquet_rows_in_rejected_jsonl_are_plain_json(tmp_path):
    from sft_select.io.load import Rejected

    src = tmp_path / "pool.parquet"
    exotic_parquet(src)
    row = load_file(src).examples[1].original
    line = rejected_lines([Rejected(str(src), 1, None, row, "not selected")])
    back = strict_json(line)
    assert back["row"]["meta"] == [["k", 1], ["j", -1]] and back["row"]["score"] == 1


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_parquet_map_column_run_end_to_end(tmp_path, cli, streaming):
    import pyarrow.parquet as pq

    src = tmp_path / "pool.parquet"
    table = exotic_parquet(src)
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "3", "--out", out, "--embedder", "hashing", "--streaming", streaming)
    assert code == 0, output
    back = pq.read_table(out / "selected.parquet")
    assert back.schema == table.schema, "selected.parquet keeps the input's schema"
    assert back.num_rows == 3
    originals = table.to_pylist()
    assert all(row in originals for row in back.to_pylist())
    for line in (out / "rejected.jsonl").read_text().splitlines():
        strict_json(line)


HUGE = b'{"instruction": "How do I sort list number %d in Python, step by step?", "output": "Call sorted() on ' \
       b'list %d; it returns a new sorted list.", "x": 1e400, "y": -2.5E+999, "z": 1e-400, "w": null}'


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_huge_json_number_is_written_back_as_written(tmp_path, cli, streaming):
    """Before: `1e400` (valid JSON, past a double's range) was read as inf and written back as
    `Infinity`, which no strict JSON reader accepts."""
    src = tmp_path / "pool.jsonl"
    src.write_bytes(b"".join(HUGE % (i, i) + b"\n" for i in range(8)))
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "3", "--out", out, "--embedder", "hashing", "--streaming", streaming)
    assert code == 0, output
    selected = (out / "selected.jsonl").read_text().splitlines()
    rejected = (out / "rejected.jsonl").read_text().splitlines()
    assert len(selected) == 3 and len(selected) + len(rejected) == 8
    for line in selected:
        assert "Infinity" not in line and "1e400" in line and "-2.5E+999" in line
        assert strict_json(line)["z"] == 0.0, "an underflow reads (and is written) as 0.0, as any reader has it"
    for line in rejected:
        assert "Infinity" not in line
        strict_json(line)


def test_huge_json_number_in_a_json_list_and_in_rejected_rows(tmp_path):
    src = tmp_path / "pool.json"
    src.write_bytes(b"[" + b",".join(HUGE % (i, i) for i in range(3)) + b"]")
    loaded = load_file(src)
    rows = [ex.original for ex in loaded.examples]
    assert math.isinf(rows[0]["x"]), "the value read is still the float a reader expects"
    text = write_rows(rows, tmp_path / "selected", "json").read_text()
    assert "1e400" in text and "Infinity" not in text
    assert len(strict_json(text)) == 3
    from sft_select.io.load import Rejected

    line = rejected_lines([Rejected(str(src), 0, None, rows[0], "not selected")])
    assert "1e400" in line
    strict_json(line)


def test_non_finite_floats_without_their_text_are_null(tmp_path):
    """A NaN from a Parquet column (or a `NaN` literal Python's json accepts) is not JSON: null."""
    from sft_select.io.load import Rejected

    line = rejected_lines([Rejected("x.parquet", 0, None, {"a": math.nan, "b": [math.inf, 1.5], "c": None},
                                    "not selected")])
    assert strict_json(line)["row"] == {"a": None, "b": [None, 1.5], "c": None}
    text = write_rows([{"a": math.nan, "b": "x"}], tmp_path / "sel", "jsonl").read_text()
    assert strict_json(text) == {"a": None, "b": "x"}


def label_rows(labels):
    return [{"text": f"document number {i} about topic {i % 3}", "label": lab} for i, lab in enumerate(labels)]


def test_numerically_equal_labels_are_one_class(tmp_path):
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in label_rows([1, 1.0, 2, 2.0, 0.5, "1.0", None])))
    labels = [ex.label for ex in load_file(src).examples]
    assert labels == ["1", "1", "2", "2", "0.5", "1.0", None]


def test_bools_mixed_with_numbers_warn_once_naming_the_file(tmp_path, capsys):
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in label_rows([1, True, 0, False, 1.0, True])))
    labels = [ex.label for ex in load_file(src).examples]
    assert labels == ["1", "True", "0", "False", "1", "True"], "bools stay their own class"
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "pool.jsonl" in err and "label" in err


def test_a_huge_jsonl_row_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    """A 200 MB row peaked at 4.8 GB (parse + id hash, 10-14x the row): past MAX_ROW_BYTES it is an unreadable
    row with its size in the reason, kept whole in rejected.jsonl under --on-error skip."""
    import json

    from sft_select.io import readers
    from sft_select.io.load import load

    monkeypatch.setattr(readers, "MAX_ROW_BYTES", 1000)
    src = tmp_path / "pool.jsonl"
    big = {"instruction": "say a lot", "output": "word " * 400}
    src.write_text(json.dumps({"instruction": "hi", "output": "hello there"}) + "\n" + json.dumps(big) + "\n")
    loaded = load([src], on_error="skip")
    assert len(loaded.examples) == 1 and len(loaded.rejected) == 1
    rej = loaded.rejected[0]
    text = json.dumps(rej, default=str)
    assert "a row may have" in text and "word word" in text
    import pytest

    from sft_select.core.errors import InputError

    with pytest.raises(InputError, match="line 2.*a row may have"):
        load([src], on_error="fail")
