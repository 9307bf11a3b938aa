"""Short labels for example ids that never make two different ids look the same.

Ids are 24-hex content hashes, and the k-th exact repeat of a text gets `~k` (core/record.assign_ids), so
a dropped duplicate and the example kept in its place share their whole hash. Cutting ids to a prefix
made them identical on the page; a label keeps the head and tail of the hash with an ellipsis between,
then the repeat suffix in full ("3f9a2c01…b7e4~1" beside "3f9a2c01…b7e4"), and widens the head where
two ids of one page would still collide. The full id is always the element's title.
"""
from __future__ import annotations

from typing import Iterable

HEAD, TAIL = 8, 4


def _split(id_: str) -> tuple[str, str]:
    """(hash, repeat suffix): `~k` with digits k is the suffix, anything else is part of the id."""
    base, sep, k = id_.rpartition("~")
    return (base, sep + k) if sep and k.isdigit() and base else (id_, "")


def _label(id_: str, head: int) -> str:
    base, suffix = _split(id_)
    if len(base) <= head + TAIL + 1:  # the ellipsis would hide less than it costs
        return id_
    return f"{base[:head]}…{base[-TAIL:]}{suffix}"


def id_labels(ids: Iterable[str | None]) -> dict[str, str]:
    """A label for each distinct id, distinct ids getting distinct labels."""
    unique = sorted({str(i) for i in ids if i is not None})
    labels = {i: _label(i, HEAD) for i in unique}
    head = HEAD
    while len(set(labels.values())) < len(labels):
        by_label: dict[str, list[str]] = {}
        for i, lab in labels.items():
            by_label.setdefault(lab, []).append(i)
        head += 4
        for group in by_label.values():
            if len(group) > 1:
                labels.update({i: _label(i, head) for i in group})
    return labels


def page_ids(summary: dict) -> list[str]:
    """Every id the page shows: the funnel's examples and their kept ids, each view's top and bottom,
    the map's points (their hover titles)."""
    out: list[str] = []
    for rows in (summary.get("reason_examples") or {}).values():
        for r in rows:
            out += [r["id"], r.get("kept_id")]
    for v in summary.get("views") or []:
        out += [r["id"] for r in (v.get("top") or []) + (v.get("bottom") or [])]
    out += ((summary.get("map") or {}).get("points") or {}).get("id") or []
    return [i for i in out if i is not None]
