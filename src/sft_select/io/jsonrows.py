"""Checks on parsed JSON rows that json.loads does not make: every way it can fail becomes a message,
and a row that parsed but could not go through the pipeline and back out is refused when read.
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Deeper rows are refused: a legitimate SFT row nests a few levels, and a row that only just parsed
# could exceed the interpreter's recursion limit later, when it is written back at the end of a run.
MAX_DEPTH = 200
# A JSON escape for a lone UTF-16 surrogate (\ud800-\udfff) decodes to a str that cannot be encoded as
# UTF-8, so the row could be read but never written; it is refused when read, like invalid UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def row_problem(data: Any, text: str | None = None) -> str | None:
    """Why a parsed row cannot go through the pipeline and back out, or None.

    `text` is the JSON the row came from: the walk only runs when the text could hide a problem (many
    brackets, a surrogate escape), so ordinary rows cost two `str.count`s and one regex search.
    """
    if text is not None and not suspicious(text):
        return None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return "invalid Unicode: a lone surrogate escape (\\ud800-\\udfff) that UTF-8 cannot hold"
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _encodable(key):
                    return "invalid Unicode: a lone surrogate escape in a key"
                stack.append((item, depth + 1))
    return None


def suspicious(text: str) -> bool:
    return text.count("[") + text.count("{") > MAX_DEPTH or _SURROGATE_ESCAPE.search(text) is not None


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Every digit as "0", so one bytes.find spots a run of 19 digits: orjson reads an integer past 64 bits as
# a float, where json.loads keeps it exact, so such rows take json.loads' path.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def fast_object(raw: bytes) -> dict | None:
    """A JSONL line's object read by orjson (faster than decoding and json.loads), when that is
    sure to be what the json.loads path would give and pass, else None: the caller then takes that path,
    which reads what orjson refuses (NaN, a BOM), and says why a row is bad. orjson also refuses lone
    surrogate escapes, so of `row_problem`'s checks only the depth one is left (the bracket count)."""
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or raw.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) >= 0:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if type(data) is dict else None


class JsonNumber(float):
    """A JSON number past a double's range (`1e400`): valid JSON that reads as inf. The value is that
    float, for whatever reads the row; `text` is the number as written, which the writers write back
    (writing inf gave `Infinity`, which is not JSON). A number that underflows (`1e-400`) reads as 0.0,
    and is written back as 0.0: valid JSON, as any JSON reader gives it."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> "JsonNumber":
        self = super().__new__(cls, text)
        self.text = text
        return self

    def __reduce__(self):
        return JsonNumber, (self.text,)

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def parse_number(text: str) -> float:
    """json.loads' `parse_float`: a float, or a `JsonNumber` where the number overflows a double (inf)."""
    value = float(text)
    if value in (_INF, _NEG_INF):
        return JsonNumber(text)
    return value


_INF, _NEG_INF = float("inf"), float("-inf")


def bad_utf8_problem(data: Any) -> str | None:
    """Why a row decoded with surrogateescape is unreadable: a byte that was not UTF-8 (kept as a lone
    surrogate, U+DC80-U+DCFF) in any string or key; else None."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE_BYTE.search(value):
                return "invalid UTF-8 in this element"
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


_SURROGATE_BYTE = re.compile("[\udc80-\udcff]")


def parse_json(text: str) -> tuple[Any, str | None]:
    """json.loads with every way it can fail turned into a message (malformed, too deep, huge integer)."""
    try:
        return json.loads(text, parse_float=parse_number), None
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4300-digit limit
        return None, f"malformed JSON: {exc}"
