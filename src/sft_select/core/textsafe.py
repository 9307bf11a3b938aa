"""Text from the data, made safe to print: no terminal control sequences, no unbounded reprs.

An example's text, an id, a field value or a file name can hold ESC sequences (clear the screen, move the
cursor, recolour: a row could draw a fake "Selected: KEEP"), and a config value can be huge (a YAML alias
bomb expands to millions of items). Everything printed from data goes through `printable`; everything
quoted in an error message goes through `clip` (or `brief`, for reprs).
"""
from __future__ import annotations

import re
from typing import Any

# C0 controls but \t and \n, DEL, C1 controls (0x9b is an 8-bit CSI), and the bidirectional overrides
# and isolates, which reorder what the terminal shows.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}"


def printable(text: Any) -> str:
    """`text` as a string with every control character written as a visible escape (ESC -> `\\x1b`);
    newlines and tabs are kept."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_visible, s)


def printable_tree(obj: Any) -> Any:
    """`printable` applied to every string (keys included) in nested dicts, lists and tuples."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {printable_tree(k): printable_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [printable_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(printable_tree(v) for v in obj)
    return obj


def clip(text: Any, limit: int = 200) -> str:
    """At most `limit` characters of `text` (then '…' and the full length), control characters escaped."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = f"{s[:limit]}… ({len(s):,} characters)"
    return printable(s)


def brief(value: Any, limit: int = 200) -> str:
    """A bounded repr: containers are walked only as far as `limit` characters need, so even a value
    whose full repr would take gigabytes (shared sub-lists of an alias bomb) costs microseconds."""
    out: list[str] = []
    size = 0

    def put(s: str) -> bool:
        nonlocal size
        out.append(s)
        size += len(s)
        return size <= limit

    def walk(v: Any, depth: int) -> bool:
        if depth > 20:
            return put("…")
        if isinstance(v, dict):
            if not put("{"):
                return False
            for k, (key, item) in enumerate(v.items()):
                if (k and not put(", ")) or not walk(key, depth + 1) or not put(": ") or not walk(item, depth + 1):
                    return False
            return put("}")
        if isinstance(v, (list, tuple, set, frozenset)):
            opening, closing = ("[", "]") if isinstance(v, list) else ("(", ")") if isinstance(v, tuple) else ("{", "}")
            if not put(opening):
                return False
            for k, item in enumerate(v):
                if (k and not put(", ")) or not walk(item, depth + 1):
                    return False
            return put(closing)
        r = repr(v)
        return put(r if len(r) <= limit else r[:limit])

    walk(value, 0)
    s = "".join(out)
    return printable(s if len(s) <= limit else s[:limit] + "…")
