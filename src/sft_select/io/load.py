"""Load input files into `Example`s, applying format detection, field mapping and the error policy."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from sft_select.errors import InputError
from sft_select.io.formats import FORMATS, RowError, detect_format, parse_row
from sft_select.io.readers import RawRow, read_rows
from sft_select.record import Example, assign_ids, content_hash


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that left the pool, with the reason; `kept_id` names the duplicate kept in its place."""

    source: str
    row: int
    line: int | None
    original: Any
    reason: str
    id: str | None = None
    kept_id: str | None = None


@dataclass
class Loaded:
    examples: list[Example] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # source -> row format


def _where(raw: RawRow) -> dict[str, int]:
    return {"line": raw.line} if raw.line is not None else {"line": raw.index + 1}


def load_file(path: str | Path, *, fmt: str | None = None, fields: Mapping[str, str] | None = None,
              on_error: str = "fail") -> Loaded:
    """Read one file. `fmt=None` detects the format from the first readable row."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(path, f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    source = str(path)
    out = Loaded()
    staged: list[tuple[RawRow, Any]] = []
    for raw in read_rows(path):
        if raw.data is None:
            if on_error == "fail":
                raise InputError(path, raw.error or "unreadable row", **_where(raw))
            out.rejected.append(Rejected(source, raw.index, raw.line, raw.raw, f"unreadable: {raw.error}"))
            continue
        if fmt is None:
            fmt = detect_format(raw.data, fields)
            if fmt is None:
                raise InputError(path, "cannot detect the format from the fields "
                                 f"{sorted(raw.data)[:12]}; pass --format and, if needed, a field mapping",
                                 **_where(raw))
        try:
            parsed = parse_row(raw.data, fmt, fields)
        except RowError as exc:
            if on_error == "fail":
                raise InputError(path, str(exc), field=exc.field, **_where(raw)) from None
            where = f" ({exc.field})" if exc.field else ""
            out.rejected.append(Rejected(source, raw.index, raw.line, raw.data, f"invalid{where}: {exc}"))
            continue
        staged.append((raw, parsed))
    if fmt is None:
        if not out.rejected:
            raise InputError(path, "the file holds no rows")
        fmt = "unknown"
    out.formats[source] = fmt
    for raw, parsed in staged:
        out.examples.append(Example(id="", source=source, row=raw.index, format=fmt, original=raw.data,
                                    turns=parsed.turns, text=parsed.text, label=parsed.label))
    return out


def load(paths: Iterable[str | Path], *, fmt: str | None = None, fields: Mapping[str, str] | None = None,
         on_error: str = "fail") -> Loaded:
    """Read every input and give each example its stable id (content hash, repeats suffixed)."""
    out = Loaded()
    for path in paths:
        part = load_file(path, fmt=fmt, fields=fields, on_error=on_error)
        out.examples.extend(part.examples)
        out.rejected.extend(part.rejected)
        out.formats.update(part.formats)
    kinds = {ex.kind for ex in out.examples}
    if len(kinds) > 1:
        raise InputError(", ".join(out.formats), "inputs mix labelled text and instruction data; "
                         "select them in separate runs")
    hashes = [content_hash(ex.turns, ex.text, ex.label) for ex in out.examples]
    out.examples = [_with_id(ex, i) for ex, i in zip(out.examples, assign_ids(hashes))]
    return out


def _with_id(ex: Example, id_: str) -> Example:
    return Example(id=id_, source=ex.source, row=ex.row, format=ex.format, original=ex.original,
                   turns=ex.turns, text=ex.text, label=ex.label)
