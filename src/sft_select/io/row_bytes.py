"""The bytes of JSONL rows as the file holds them, so the selected file can hold each selected row's own
line: its spacing, key order, escapes and numbers (`1e400`, `1.0`, `1E2`) unchanged, which re-serializing
the parsed row cannot promise.
"""
from __future__ import annotations

import gc
import json
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import orjson

from sft_select.core.errors import InputError
from sft_select.core.record import Example
from sft_select.io.readers import file_type, jsonl_row, open_bytes, unreadable_after

_BOM = b"\xef\xbb\xbf"


def is_jsonl_file(source: str | Path) -> bool:
    """Whether `source` is a JSONL file (plain or gzip), whose rows are lines."""
    path = Path(source)
    try:
        return path.is_file() and file_type(path) == "jsonl"
    except (InputError, OSError):
        return False


def raw_lines(path: str | Path, *, start: int = 0, first: int = 0, line: int = 1) -> Iterator[tuple[int, int, bytes]]:
    """(row index, line number, the line's bytes) for each row from byte `start` on, where row `first`
    starts on line `line`. Blank lines are not rows, as readers.read_rows counts them."""
    path = Path(path)
    k, line_no = first, line
    try:
        with open_bytes(path) as fh:
            if start:
                fh.seek(start)
            for raw in fh:
                if raw.strip():
                    yield k, line_no, raw
                    k += 1
                line_no += 1
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream among them
        raise unreadable_after(path, line_no - 1, exc) from None


def as_written(raw: bytes, line_no: int) -> bytes:
    """A row's line as the selected file holds it: its bytes, ended by a newline (a file's last line may
    have none), without the byte-order mark some editors put before the first line."""
    if line_no == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    return raw if raw.endswith(b"\n") else raw + b"\n"


def original_lines(examples: Sequence[Example]) -> list[bytes | None]:
    """Each example's line from its JSONL file, as written (`as_written`), or None for a row read from
    another container. One sweep a file, parsing only the lines wanted; each must still hold the row the
    run read (else InputError: the file changed during the run)."""
    wanted: dict[str, dict[int, int]] = defaultdict(dict)  # source -> row -> position in examples
    jsonl: dict[str, bool] = {}
    for pos, ex in enumerate(examples):
        if ex.source not in jsonl:
            jsonl[ex.source] = is_jsonl_file(ex.source)
        if jsonl[ex.source]:
            wanted[ex.source][ex.row] = pos
    out: list[bytes | None] = [None] * len(examples)
    was_on = gc.isenabled()
    gc.disable()  # parsing makes objects by the thousand; the collector would walk the whole pool for them
    try:
        for source, rows in wanted.items():
            found = 0
            for k, line_no, raw in lines_at(source, np.fromiter(sorted(rows), dtype=np.int64, count=len(rows))):
                if not _holds(raw, k, line_no, examples[rows[k]].original):
                    raise changed(source, line_no)
                out[rows[k]] = as_written(raw, line_no)
                found += 1
            if found != len(rows):
                raise changed(source, None)
    finally:
        if was_on:
            gc.enable()
    return out


_BLOCK = 1 << 20  # a few MB of transient arrays at most: a 16 MB block raised a 100k run's peak RSS by ~55 MB
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.strip() strips


def lines_at(path: str | Path, rows: np.ndarray) -> Iterator[tuple[int, int, bytes]]:
    """(row index, line number, the line's bytes) of the given rows (ascending indices) of a JSONL file.
    Lines are found a block at a time with numpy, not a Python loop a line: only the rows asked for
    become bytes objects."""
    path = Path(path)
    first_row, first_line = 0, 1  # of the block's first line
    carry = b""
    i = 0
    try:
        with open_bytes(path) as fh:
            while i < len(rows):
                chunk = fh.read(_BLOCK)
                data = carry + chunk if carry else chunk
                if not data:
                    return
                buf = np.frombuffer(data, dtype=np.uint8)
                ends = np.flatnonzero(buf == 10) + 1
                if not chunk and (not len(ends) or ends[-1] != len(data)):  # the last line has no newline
                    ends = np.append(ends, len(data))
                if not len(ends):  # one line longer than the block
                    carry = data
                    continue
                starts = np.concatenate(([0], ends[:-1]))
                is_row = np.ones(len(starts), dtype=bool)
                for j in np.flatnonzero(_SPACE[buf[starts]]):  # a blank line starts with a space: only those
                    is_row[j] = bool(data[starts[j]:ends[j]].strip())  # are checked, each in Python
                row_lines = np.flatnonzero(is_row)
                stop = first_row + len(row_lines)
                take = rows[i:np.searchsorted(rows, stop, side="left")]
                at = row_lines[take - first_row]
                for k, line_no, a, b in zip(take.tolist(), (at + first_line).tolist(), starts[at].tolist(),
                                            ends[at].tolist()):
                    yield k, line_no, data[a:b]
                i += len(take)
                first_row, first_line = stop, first_line + len(starts)
                carry = data[ends[-1]:]
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream among them
        raise unreadable_after(path, first_line - 1, exc) from None


def changed(source: str, line: int | None) -> InputError:
    return InputError(source, "the input changed while the run was reading it", line=line)


def _holds(raw: bytes, k: int, line_no: int, original: Any) -> bool:
    """Whether the line still holds the row the run read: parsed by orjson first (the quick way, and what
    the reader gives for most lines), else as the reader parses it (readers.jsonl_row: a BOM, NaN, an
    integer past 64 bits)."""
    try:
        if orjson.loads(raw) == original:
            return True
    except orjson.JSONDecodeError:
        pass
    return _same(jsonl_row(k, line_no, raw).data, original)


def _same(a: Any, b: Any) -> bool:
    """Equal rows; a NaN (which equals nothing, itself included) compared by its text."""
    return a == b or (a is not None and json.dumps(a, default=str) == json.dumps(b, default=str))
