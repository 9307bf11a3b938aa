"""Row formats: detection from a row's keys, and the mapping of a row to turns or text/label.

A user may name the format (`--format`) and rename fields (`fields: {instruction: question}` maps the
canonical field `instruction` to the input column `question`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sft_select.core.record import ASSISTANT_ROLES, Turn

FORMATS = ("alpaca", "sharegpt", "openai", "prompt_completion", "text_label")


class RowError(Exception):
    """A row that does not fit its format; `field` names the offending field."""

    def __init__(self, field: str | None, message: str):
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Parsed:
    turns: tuple[Turn, ...] = ()
    text: str | None = None
    label: str | None = None


def detect_format(row: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> str | None:
    """The format whose required fields the row has, or None."""
    f = _Fields(fields or {})
    keys = set(row)
    if f("messages") in keys:
        return "openai"
    if f("conversations") in keys:
        return "sharegpt"
    if {f("instruction"), f("output")} <= keys:
        return "alpaca"
    if {f("prompt"), f("completion")} <= keys:
        return "prompt_completion"
    if f("text") in keys:
        return "text_label"
    return None


class _Fields:
    """Canonical field name -> the input's column name."""

    def __init__(self, mapping: Mapping[str, str]):
        self.mapping = mapping

    def __call__(self, name: str) -> str:
        return self.mapping.get(name, name)


def _string(row: Mapping[str, Any], field: str, *, required: bool) -> str:
    if field not in row or row[field] is None:
        if required:
            raise RowError(field, "missing required field")
        return ""
    value = row[field]
    if not isinstance(value, str):
        raise RowError(field, f"expected a string, got {type(value).__name__}")
    return value


def _alpaca(row: Mapping[str, Any], f: _Fields) -> Parsed:
    instruction = _string(row, f("instruction"), required=True)
    extra = _string(row, f("input"), required=False)
    output = _string(row, f("output"), required=True)
    system = _string(row, f("system"), required=False)
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    turns = ((Turn("system", system),) if system.strip() else ()) + (Turn("user", prompt), Turn("assistant", output))
    return Parsed(turns=turns)


def _prompt_completion(row: Mapping[str, Any], f: _Fields) -> Parsed:
    prompt = _string(row, f("prompt"), required=True)
    completion = _string(row, f("completion"), required=True)
    return Parsed(turns=(Turn("user", prompt), Turn("assistant", completion)))


def _turn_list(row: Mapping[str, Any], field: str, role_key: str, content_key: str) -> tuple[Turn, ...]:
    items = row.get(field)
    if items is None:
        raise RowError(field, "missing required field")
    if hasattr(items, "tolist"):  # a numpy array from Parquet
        items = items.tolist()
    if not isinstance(items, list) or not items:
        raise RowError(field, "expected a non-empty list of turns")
    turns = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            raise RowError(where, f"expected an object with '{role_key}' and '{content_key}'")
        role, content = item.get(role_key), item.get(content_key)
        if not isinstance(role, str):
            raise RowError(f"{where}.{role_key}", "missing or not a string")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise RowError(f"{where}.{content_key}", f"expected a string, got {type(content).__name__}")
        turns.append(Turn(_canonical_role(role), content))
    return tuple(turns)


def _canonical_role(role: str) -> str:
    r = role.strip().lower()
    if r in ASSISTANT_ROLES:
        return "assistant"
    if r == "system":
        return "system"
    return "user"


def _openai(row: Mapping[str, Any], f: _Fields) -> Parsed:
    return Parsed(turns=_turn_list(row, f("messages"), f("role"), f("content")))


def _sharegpt(row: Mapping[str, Any], f: _Fields) -> Parsed:
    return Parsed(turns=_turn_list(row, f("conversations"), f("from"), f("value")))


def _text_label(row: Mapping[str, Any], f: _Fields) -> Parsed:
    text = _string(row, f("text"), required=True)
    label_field = f("label")
    label = row.get(label_field)
    if isinstance(label, (dict, list)):
        raise RowError(label_field, f"expected a scalar label, got {type(label).__name__}")
    return Parsed(text=text, label=None if label is None else label_text(label))


def label_text(label: Any) -> str:
    """A label as its class name. A float that is a whole number is that integer, so 1 and 1.0 are one
    class (a JSON writer may write either); True stays 'True', a class of its own (load.py warns when
    a file mixes the two)."""
    if type(label) is float and label.is_integer() and abs(label) < 2**53:
        return str(int(label))
    return str(label)


_PARSERS: dict[str, Callable[[Mapping[str, Any], _Fields], Parsed]] = {
    "alpaca": _alpaca, "sharegpt": _sharegpt, "openai": _openai,
    "prompt_completion": _prompt_completion, "text_label": _text_label,
}


_NO_MAPPING = _Fields({})


def parse_row(row: Mapping[str, Any], fmt: str, fields: Mapping[str, str] | None = None) -> Parsed:
    f = _Fields(fields) if fields else _NO_MAPPING  # one per call only when there is a mapping
    parsed = _PARSERS[fmt](row, f)
    if parsed.text is not None:
        if not parsed.text.strip():
            raise RowError(f("text"), "empty text")
        return parsed
    for turn in parsed.turns:  # a loop, not any() over a generator: this runs once per input row
        if turn.content.strip():
            return parsed
    raise RowError(None, "every text field is empty")
