"""Load input files into `Example`s, applying format detection, field mapping and the error policy."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sft_select.core.errors import InputError
from sft_select.core.record import Example, assign_ids, content_hash, join_texts
from sft_select.executors import pool as parallel
from sft_select.io.formats import FORMATS, RowError, detect_format, parse_row
from sft_select.io.read_ahead import Job, ReadAhead
from sft_select.io.readers import RawRow, read_rows, row_error


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
    # The caller's per-example jobs (`load(alongside=...)`) computed while reading: job -> result by
    # position in `examples`. Empty when nothing ran alongside (one worker), so the caller computes them.
    alongside: dict[str, list] = field(default_factory=dict)


_WARNED_LABELS: set[str] = set()  # files already warned about, once a process


def _label_kind(label: Any) -> str | None:
    if isinstance(label, bool):
        return "bool"
    if isinstance(label, (int, float)):
        return "number"
    return None


def _warn_mixed_labels(source: str, field: str) -> None:
    if source in _WARNED_LABELS:
        return
    _WARNED_LABELS.add(source)
    from rich.markup import escape

    from sft_select.core.progress import info

    info(f"[yellow]warning:[/yellow] {escape(source)}: field '{escape(field)}' mixes true/false with numbers; "
         "true and 1 (false and 0) are kept as different labels")


def iter_file(path: str | Path, *, fmt: str | None = None, fields: Mapping[str, str] | None = None,
              on_error: str = "fail", formats: dict[str, str] | None = None,
              split: str = "train") -> Iterator[Example | Rejected]:
    """Parse one file row by row: an `Example` (without its id) or a `Rejected` per row, in reading order.

    `fmt=None` detects the format from the first readable row; the format is recorded in `formats`.
    Rows are yielded as they are read, so a streaming run holds one chunk, not the file. `split`: the
    split read from a DatasetDict folder or a Hub dataset (readers.read_rows).
    """
    yield from parse_rows(read_rows(path, split), path, fmt=fmt, fields=fields, on_error=on_error, formats=formats)


def source_name(path: str | Path) -> str:
    """How rows name their input: its path, or a Hub dataset's `hf://…` as typed (a command-line path
    argument arrives as `hf:/…`: pathlib collapses the double slash)."""
    text = str(path)
    return "hf://" + text[len("hf:/"):] if text.startswith("hf:/") and not text.startswith("hf://") else text


def parse_rows(rows: Iterable[RawRow], path: str | Path, *, fmt: str | None = None,
               fields: Mapping[str, str] | None = None, on_error: str = "fail",
               formats: dict[str, str] | None = None) -> Iterator[Example | Rejected]:
    """`iter_file` over rows already read from `path` (all of them, or some: a streaming run's sample)."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(path, f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    source = source_name(path)
    formats = formats if formats is not None else {}
    any_rejected = False
    label_field = (fields or {}).get("label", "label") if fmt == "text_label" else None
    label_kinds: set[str] = set()
    for raw in rows:
        if raw.data is None:
            if on_error == "fail":
                raise row_error(path, raw.error or "unreadable row", raw)
            any_rejected = True
            yield Rejected(source, raw.index, raw.line, raw.raw, f"unreadable: {raw.error}")
            continue
        if fmt is None:
            fmt = detect_format(raw.data, fields)
            if fmt is None:
                raise row_error(path, "cannot detect the format from the fields "
                                f"{sorted(raw.data)[:12]}; pass --format and, if needed, a field mapping", raw)
            formats[source] = fmt
            label_field = (fields or {}).get("label", "label") if fmt == "text_label" else None
        try:
            parsed = parse_row(raw.data, fmt, fields)
        except RowError as exc:
            if on_error == "fail":
                raise row_error(path, str(exc), raw, field=exc.field) from None
            where = f" ({exc.field})" if exc.field else ""
            any_rejected = True
            yield Rejected(source, raw.index, raw.line, raw.data, f"invalid{where}: {exc}")
            continue
        if label_field is not None and len(label_kinds) < 2:  # bools and numbers: one warning a file
            kind = _label_kind(raw.data.get(label_field))
            if kind is not None:
                label_kinds.add(kind)
                if len(label_kinds) == 2:
                    _warn_mixed_labels(source, label_field)
        yield Example(id="", source=source, row=raw.index, format=fmt, original=raw.data,
                      turns=parsed.turns, text=parsed.text, label=parsed.label)
    if fmt is None:
        if not any_rejected:
            raise InputError(path, "the file holds no rows")
        formats[source] = "unknown"
    else:
        formats[source] = fmt


def load_file(path: str | Path, *, fmt: str | None = None, fields: Mapping[str, str] | None = None,
              on_error: str = "fail", split: str = "train") -> Loaded:
    """Read one file. `fmt=None` detects the format from the first readable row."""
    out = Loaded()
    for item in iter_file(path, fmt=fmt, fields=fields, on_error=on_error, formats=out.formats, split=split):
        (out.rejected if isinstance(item, Rejected) else out.examples).append(item)
    return out


def load(paths: Iterable[str | Path], *, fmt: str | None = None, fields: Mapping[str, str] | None = None,
         on_error: str = "fail", alongside: dict[str, Job] | None = None, split: str = "train") -> Loaded:
    """Read every input and give each example its stable id (content hash, repeats suffixed). `split`: the
    split read from a DatasetDict folder or a Hub dataset; other inputs ignore it.

    With worker processes on, the content hashes, and the caller's per-example `alongside` jobs (e.g. the
    filters), are computed in a worker while the rest of the input is read (io/read_ahead.py), off this
    process's serial time. `alongside` results land in `Loaded.alongside`."""
    with _collector_paused():
        return _load(paths, fmt=fmt, fields=fields, on_error=on_error, alongside=alongside, split=split)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Reading makes ~10 acyclic objects a row (examples, turns, strings): the cyclic collector would
    walk all of them again at each 25% growth of the heap and find nothing."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _load(paths: Iterable[str | Path], *, fmt: str | None, fields: Mapping[str, str] | None, on_error: str,
          alongside: dict[str, Job] | None, split: str) -> Loaded:
    out = Loaded()
    ahead = ReadAhead({"content_hash": content_hashes, **(alongside or {})}, every=parallel.min_items()) \
        if parallel.active() > 1 else None
    try:
        for path in paths:
            for item in iter_file(path, fmt=fmt, fields=fields, on_error=on_error, formats=out.formats,
                                  split=split):
                if isinstance(item, Rejected):
                    out.rejected.append(item)
                else:
                    out.examples.append(item)
                    if ahead is not None:
                        ahead.feed(out.examples)
        kinds = {ex.kind for ex in out.examples}
        if len(kinds) > 1:
            raise InputError(", ".join(out.formats), "inputs mix labelled text and instruction data; "
                             "select them in separate runs")
        if ahead is not None:
            out.alongside = ahead.finish()
    except BaseException:
        if ahead is not None:
            ahead.cancel()
        raise
    hashes = out.alongside.pop("content_hash") if ahead is not None else content_hashes(out.examples)
    for ex, id_ in zip(out.examples, assign_ids(hashes)):
        set_id(ex, id_)
    if ahead is None:  # else each part was joined before its worker started (read_ahead.py)
        join_texts(out.examples)
    return out


def content_hashes(examples: Sequence[Example]) -> list[str]:
    return [content_hash(ex.turns, ex.text, ex.label) for ex in examples]


def set_id(ex: Example, id_: str) -> None:
    """Give a just-parsed example its id. In place, not a copy through the constructor (a second
    Example per row is a measurable share of a load): nothing else holds these examples yet."""
    object.__setattr__(ex, "id", id_)
