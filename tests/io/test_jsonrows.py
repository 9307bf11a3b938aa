"""parse_json reads rows with orjson where it can: the values must be exactly what json.loads gives."""
from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.io.jsonrows import parse_json

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
    got, error = parse_json(text)
    assert error is None
    assert _same(got, json.loads(text))


def test_values_orjson_would_change_or_refuse_are_read_as_json_loads_reads_them() -> None:
    for text in ('{"id": 123456789012345678901234567890}', '{"id": -9223372036854775809}',
                 '{"x": NaN, "y": Infinity}', '{"a": 1, "a": 2}', '{"s": "\\ud800"}'):
        got, error = parse_json(text)
        assert error is None and _same(got, json.loads(text)), text


def test_a_malformed_row_gets_json_loads_message() -> None:
    assert parse_json('{"a": 1,}')[1] == "malformed JSON: Expecting property name enclosed in double quotes (column 9)"
