"""Hypothesis strategies, file encoders and the oracle for fuzzing the readers and format detectors.

The oracle: reading a file either succeeds, with every example usable and every row writable back as
UTF-8, or raises an `SftSelectError` whose one-line message names the file (and, for line-based files,
the line). Any other exception fails the test with hypothesis's minimal example.

`SFT_SELECT_FUZZ_SCALE` multiplies every test's `max_examples` and switches to random (not derandomized)
generation; bench/fuzz_readers.py uses it for the long runs. `CASES` counts the cases tried per test
and outcome, for the figures in docs/reliability.md.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sft_select.core.errors import InputError, SftSelectError
from sft_select.io.load import Loaded, load_file

SCALE = float(os.environ.get("SFT_SELECT_FUZZ_SCALE", "1"))
BENCH = "SFT_SELECT_FUZZ_SCALE" in os.environ
CASES: dict[str, Counter] = defaultdict(Counter)

CONTAINERS = ("jsonl", "json", "csv", "parquet", "jsonl.gz", "json.gz", "csv.gz")
LINE_BASED = ("jsonl", "csv", "jsonl.gz", "csv.gz")
WHOLE_FILE = ("the file holds no rows", "file not found")  # the errors that have no line to name
FORMAT_KEYS = ("instruction", "input", "output", "system", "prompt", "completion", "messages",
               "conversations", "text", "label", "role", "content", "from", "value")


def fuzz_settings(n: int) -> settings:
    """`n` cases in the test suite (derandomized, so runs are repeatable); n × SCALE in the bench."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=not BENCH, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def record(test: str, outcome: str) -> None:
    CASES[test][outcome] += 1


def total_cases() -> int:
    return sum(sum(c.values()) for c in CASES.values())


# -- strategies ------------------------------------------------------------------------------------
# Every character, lone surrogates (Cs) included: they come from broken JSON escapes.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
plain_text = st.text(min_size=1, max_size=40)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(any_text, kids, max_size=4), max_leaves=12)
# Field values: mostly strings (so rows often get past the first check), sometimes anything.
field_values = st.one_of(plain_text, plain_text, any_text, st.just(""), st.just("   "), json_values)
turns = st.lists(st.fixed_dictionaries({}, optional={"role": field_values, "content": field_values,
                                                    "from": field_values, "value": field_values}), max_size=4)


def format_rows() -> st.SearchStrategy[dict[str, Any]]:
    """A row shaped like one of the formats (or like none), with values of any type."""
    return st.one_of(
        st.fixed_dictionaries({"instruction": field_values, "output": field_values},
                              optional={"input": field_values, "system": field_values}),
        st.fixed_dictionaries({"prompt": field_values, "completion": field_values}),
        st.fixed_dictionaries({"messages": turns | field_values}),
        st.fixed_dictionaries({"conversations": turns | field_values}),
        st.fixed_dictionaries({"text": field_values}, optional={"label": field_values}),
        st.dictionaries(st.sampled_from(FORMAT_KEYS) | any_text, json_values, max_size=5),
    )


# -- encoders: rows -> the bytes of a file of each container type -----------------------------------
def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate becomes the invalid UTF-8 a broken exporter writes
    return text.encode("utf-8", "surrogatepass")


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


def encode_rows(rows: list[Any], container: str, *, ascii_only: bool = True, bom: bool = False,
                crlf: bool = False, wrap: bool = False) -> bytes:
    """The bytes of a `container` file holding `rows` (rows need not be objects)."""
    kind = container.removesuffix(".gz")
    if kind == "jsonl":
        nl = "\r\n" if crlf else "\n"
        data = _utf8("".join(_dumps(r, ascii_only) + nl for r in rows))
    elif kind == "json":
        data = _utf8(_dumps({"data": rows} if wrap else rows, ascii_only))
    elif kind == "csv":
        data = _csv_bytes(rows)
    elif kind == "parquet":
        data = _parquet_bytes(rows)
    else:  # pragma: no cover
        raise ValueError(container)
    if bom and kind in ("jsonl", "json", "csv"):
        data = b"\xef\xbb\xbf" + data
    return gzip.compress(data, mtime=0) if container.endswith(".gz") else data


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else _dumps(value, False)


def _csv_bytes(rows: list[Any]) -> bytes:
    dicts = [r if isinstance(r, dict) else {"value": r} for r in rows]
    header: list[str] = []
    for r in dicts:
        header.extend(k for k in r if k not in header)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    for r in dicts:
        writer.writerow([_cell(r[k]) if k in r else "" for k in header])
    return _utf8(buf.getvalue())


def _parquet_bytes(rows: list[Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dicts = [r if isinstance(r, dict) else {"value": r} for r in rows]
    buf = io.BytesIO()
    try:
        pq.write_table(pa.Table.from_pylist(dicts), buf)
    except Exception:
        # Types Parquet cannot hold (mixed per column, empty structs): every value as JSON text, the
        # way a careless export stores them.
        cleaned = [{_clean(k): _clean(_cell(v)) for k, v in r.items()} for r in dicts]
        table = pa.Table.from_pylist(cleaned) if any(cleaned) else pa.table({"value": pa.array([], pa.string())})
        buf = io.BytesIO()
        pq.write_table(table, buf)
    return buf.getvalue()


def _clean(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


# -- the oracle -------------------------------------------------------------------------------------
def check_load(path: Path, container: str, **kwargs: Any) -> str:
    """Load `path` and check the outcome; returns "ok", "ok+rejected" or "error"."""
    try:
        loaded = load_file(path, **kwargs)
    except SftSelectError as exc:
        check_error(exc, path, container)
        return "error"
    check_loaded(loaded, container)
    return "ok+rejected" if loaded.rejected else "ok"


def check_error(exc: SftSelectError, path: Path, container: str) -> None:
    message = str(exc)
    assert isinstance(exc, InputError), f"a bad input file must give an InputError, got {type(exc).__name__}"
    assert str(path) in message, f"the message does not name the file: {message!r}"
    assert "\n" not in message and "Traceback" not in message, f"not one clear line: {message!r}"
    if container in LINE_BASED and exc.detail not in WHOLE_FILE:
        assert exc.line is not None, f"a line-based file's error names no line: {message!r}"
    message.encode("utf-8")  # printable on any UTF-8 terminal


def check_loaded(loaded: Loaded, container: str) -> None:
    for ex in loaded.examples:
        assert ex.content.strip() or any(t.content.strip() for t in ex.turns), "an example with no text"
        # Every kept row must be writable back (selected.<fmt>, rejected.jsonl) as UTF-8 JSON.
        json.dumps(ex.original, ensure_ascii=False, default=str).encode("utf-8")
    for r in loaded.rejected:
        assert r.reason, "a rejected row without a reason"
        json.dumps({"row": r.original, "reason": r.reason}, ensure_ascii=False, default=str).encode("utf-8")
        if container in LINE_BASED:
            assert r.line is not None, "a rejected row of a line-based file names no line"
