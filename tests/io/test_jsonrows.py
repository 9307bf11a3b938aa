"""JSONL rows are read with orjson where it gives what json.loads gives: the values must be the same,
with the same types, and every row orjson would read differently must take the json.loads path."""
from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.io.jsonrows import MAX_DEPTH, fast_object
from sft_select.io.readers import jsonl_row

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text())
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
                      max_leaves=20)


def _same(a, b) -> bool:
    """Equal with the same types (an int read as a float is a change), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(value=values, ascii_only=st.booleans())
def test_rows_read_as_json_loads_reads_them(value, ascii_only: bool) -> None:
    text = json.dumps({"v": value}, ensure_ascii=ascii_only)
    row = jsonl_row(0, 1, text.encode("utf-8") + b"\n")
    assert row.error is None
    assert _same(row.data, json.loads(text))


def test_rows_orjson_would_change_or_refuse_take_the_json_loads_path() -> None:
    for text in ('{"id": 123456789012345678901234567890}', '{"id": -9223372036854775809}',
                 '{"x": NaN, "y": Infinity}', '{"s": "\\ud800"}', '[1]', '{"a": 1,}',
                 '{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"):
        assert fast_object(text.encode()) is None, text
    assert _same(jsonl_row(0, 1, b'{"id": 123456789012345678901234567890}').data,
                 {"id": 123456789012345678901234567890})
    assert jsonl_row(0, 1, b'{"s": "\\ud800"}').error.startswith("invalid Unicode")
    assert jsonl_row(0, 1, b'{"a": 1,}').error == \
        "malformed JSON: Expecting property name enclosed in double quotes (column 9)"


def test_ordinary_rows_take_the_fast_path() -> None:
    assert fast_object(b'{"instruction": "Add 2 and 3.", "output": "5", "n": 12345, "x": [1.5, null]}') == \
        {"instruction": "Add 2 and 3.", "output": "5", "n": 12345, "x": [1.5, None]}
