"""Where each row of a JSONL file starts, so rows can be read without parsing the file up to them.

A streaming run reads its input several times. With the rows' byte offsets, one cheap scan (no
parsing) lets the sample parse only the rows it draws (the reservoir sampling it replaces parsed and
hashed every row), and lets worker processes each write the outputs
of their own range of rows. A gzip file's offsets are in its decompressed bytes: seeking forward there
decompresses and discards up to the row (Python's gzip seeks that way), which is still far cheaper than
parsing. The other containers have no lines: those are read whole, as before.
"""
from __future__ import annotations

import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from sft_select.io.readers import RawRow, file_type, jsonl_row, open_bytes, unreadable_after


@dataclass(frozen=True)
class RowOffsets:
    """Row k (the k-th non-blank line, `RawRow.index`) starts at byte `starts[k]`, on line `lines[k]`."""

    path: Path
    starts: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


def row_offsets(path: str | Path) -> RowOffsets | None:
    """The rows' offsets of a JSONL file (plain or gzip), or None for any other input."""
    path = Path(path)
    if not path.is_file() or file_type(path) != "jsonl":
        return None
    starts, lines = array("q"), array("q")
    offset = line = 0
    try:
        with open_bytes(path) as fh:
            for raw_line in fh:
                line += 1
                if raw_line.strip():  # blank lines are not rows, as in readers._read_jsonl
                    starts.append(offset)
                    lines.append(line)
                offset += len(raw_line)
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream among them
        raise unreadable_after(path, line, exc) from None
    return RowOffsets(path, np.frombuffer(starts, dtype=np.int64), np.frombuffer(lines, dtype=np.int64))


def rows_at(offsets: RowOffsets, rows: Iterable[int]) -> Iterator[RawRow]:
    """The given rows (ascending indices), each read where it starts."""
    last = 0  # the line of the last row read
    try:
        with open_bytes(offsets.path) as fh:
            for k in rows:
                fh.seek(int(offsets.starts[k]))
                row = jsonl_row(k, int(offsets.lines[k]), fh.readline())
                last = row.line or last
                yield row
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable_after(offsets.path, last, exc) from None


def rows_from(offsets: RowOffsets, first: int, stop: int) -> Iterator[RawRow]:
    """Rows `first` to `stop - 1`, read in one sweep from where `first` starts."""
    if first >= stop:
        return
    k = first
    line = int(offsets.lines[first])  # the line being read
    try:
        with open_bytes(offsets.path) as fh:
            fh.seek(int(offsets.starts[first]))
            for raw_line in fh:
                if raw_line.strip():
                    yield jsonl_row(k, line, raw_line)
                    k += 1
                    if k >= stop:
                        return
                line += 1
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable_after(offsets.path, line - 1, exc) from None
