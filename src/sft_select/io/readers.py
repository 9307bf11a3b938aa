"""Readers for JSONL, JSON (list), CSV, Parquet and `datasets.save_to_disk` folders; gzip transparently.

Every reader yields `RawRow`s: the 0-based row index, the 1-based line where the file has lines, and
either the row as a dict or the error that made it unreadable. Unreadable rows are not raised here, so
the caller decides between failing (`--on-error fail`) and skipping into rejected.jsonl.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sft_select.errors import InputError
from sft_select.io.jsonrows import fast_object, parse_json, row_problem, suspicious

FILE_TYPES = ("jsonl", "json", "csv", "parquet", "hf")
_BOM = "\ufeff"
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True, slots=True)
class RawRow:
    index: int  # 0-based row in the file
    line: int | None  # 1-based line, where the file type has lines
    data: dict[str, Any] | None
    error: str | None = None  # why the row could not be read
    raw: str | None = None  # the unreadable text, kept for rejected.jsonl


def file_type(path: Path) -> str:
    """The container type from the name: a folder is a `datasets` folder; `.gz` is looked through."""
    if path.is_dir():
        if not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
            raise InputError(path, "a folder input must be a Hugging Face dataset saved with save_to_disk")
        return "hf"
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        raise InputError(path, f"unknown file type '{suffix or name}'; expected one of .jsonl, .json, .csv, "
                               ".parquet (optionally .gz) or a datasets folder")
    return _SUFFIXES[suffix]


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def data_bytes(path: Path) -> int:
    """About how many bytes the input's data take once read, which is what a run holds in memory: the
    decompressed size of a gzip file (its trailer's; a trailer smaller than the file itself, a multi-member
    file or one past 4 GiB, counts as 4 GiB more), a Parquet file's rows at the decoded size of its first
    1,000 (its metadata counts encoded bytes: repeated strings dictionary-encoded), a datasets folder's
    files, else the file's size."""
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    if path.is_file() and is_gzip(path) and size >= 18:  # 10-byte header, 8-byte trailer
        with open(path, "rb") as fh:
            fh.seek(-4, io.SEEK_END)
            trailer = int.from_bytes(fh.read(4), "little")  # ISIZE: the data's length modulo 2**32
        return trailer if trailer >= size else size + 2**32
    if path.is_file() and path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            first = next(pf.iter_batches(batch_size=1000), None)
            if first is None or first.num_rows == 0:
                return size
            return max(size, int(first.nbytes / first.num_rows * pf.metadata.num_rows))
        except Exception:  # noqa: BLE001 - an unreadable file is reported when it is read, not here
            return size
    return size


def open_bytes(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


def read_rows(path: str | Path) -> Iterator[RawRow]:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    kind = file_type(path)
    try:
        yield from _READERS[kind](path)
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip streams among them
        raise InputError(path, f"cannot read the file: {one_line(exc)}") from None


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    line_no = 0
    with open_bytes(path) as fh:
        lines = iter(fh)
        index = 0
        while True:
            try:
                raw_line = next(lines, None)
            except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz stream
                raise InputError(path, f"cannot read the file: {one_line(exc)}", line=line_no + 1) from None
            if raw_line is None:
                return
            line_no += 1
            if not raw_line.strip():
                continue
            yield jsonl_row(index, line_no, raw_line)
            index += 1


def jsonl_row(index: int, line_no: int, raw_line: bytes) -> RawRow:
    data = fast_object(raw_line)
    if data is not None:
        return RawRow(index, line_no, data)
    try:
        text = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRow(index, line_no, None, f"invalid UTF-8 at byte {exc.start} of the line",
                      raw_line.decode("utf-8", "replace").rstrip("\r\n"))
    if line_no == 1 and text.startswith(_BOM):  # a byte-order mark some editors put first
        text = text[1:]
    data, error = parse_json(text)
    if error is None and not isinstance(data, dict):
        error = f"expected a JSON object, got {type(data).__name__}"
    if error is None:
        error = row_problem(data, text)
    if error is not None:
        return RawRow(index, line_no, None, error, text.rstrip("\r\n"))
    return RawRow(index, line_no, data)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (pyarrow's end with a newline, some span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_json(path: Path) -> Iterator[RawRow]:
    with open_bytes(path) as fh:
        blob = fh.read()
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = blob.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"invalid UTF-8 at byte {exc.start}", line=line) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except RecursionError:
        raise InputError(path, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer literal longer than Python's 4300-digit limit
        raise InputError(path, f"malformed JSON: {exc}") from None
    walk = suspicious(text)  # only then is each row walked for depth and lone surrogates
    if isinstance(data, dict):
        # Some dumps wrap the list, e.g. {"data": [...]}; accept exactly one list-valued key.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(path, "expected a JSON list of objects (or an object holding exactly one list)")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON list of objects, got {type(data).__name__}")
    for index, item in enumerate(data):
        error = None if isinstance(item, dict) else f"expected a JSON object, got {type(item).__name__}"
        if error is None and walk:
            error = row_problem(item)
        if error is None:
            yield RawRow(index, None, item)
        else:  # ensure_ascii: the raw text must be writable even when it holds a lone surrogate
            yield RawRow(index, None, None, error, _dump_head(item))


def _dump_head(item: Any, limit: int = 10_000) -> str:
    try:
        return json.dumps(item, ensure_ascii=True)[:limit]
    except (RecursionError, ValueError):
        return "<unprintable: nested too deeply>"


def _read_csv(path: Path) -> Iterator[RawRow]:
    csv.field_size_limit(sys.maxsize)
    with open_bytes(path) as fb:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark, which would else end up in
        # the first column's name.
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        try:
            for index, row in enumerate(reader):
                line = reader.line_num
                if None in row:  # more cells than header names
                    yield RawRow(index, line, None, "more cells than header columns",
                                 json.dumps(row.get(None), ensure_ascii=False))
                    continue
                yield RawRow(index, line, dict(row))
        except UnicodeDecodeError:
            line, offset = _first_bad_utf8(path)
            at = f" at byte {offset}" if offset is not None else ""
            raise InputError(path, f"invalid UTF-8{at}", line=line or reader.line_num + 1) from None
        except csv.Error as exc:
            raise InputError(path, f"malformed CSV: {one_line(exc)}", line=reader.line_num or None) from None
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz stream
            raise InputError(path, f"cannot read the file: {one_line(exc)}", line=reader.line_num + 1) from None


def _first_bad_utf8(path: Path) -> tuple[int | None, int | None]:
    """Line and file offset of the first invalid UTF-8 byte (the text decoder only knows its chunk).

    Lines can be decoded one by one because a newline byte never occurs inside a UTF-8 sequence.
    """
    offset = 0
    try:
        with open_bytes(path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return line_no, offset + exc.start
                offset += len(raw)
    except (OSError, EOFError, zlib.error):  # a damaged .gz: its readable part held no bad byte
        pass
    return None, None


def _read_parquet(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(path, f"not a readable Parquet file: {one_line(exc)}") from None
    index = 0
    batches = pf.iter_batches(batch_size=4096)
    while True:
        # A valid footer does not vouch for the data pages: a damaged page fails only when decoded.
        try:
            batch = next(batches, None)
            rows = batch.to_pylist() if batch is not None else []
        except Exception as exc:
            raise InputError(path, f"unreadable Parquet data after row {index}: {one_line(exc)}") from None
        if batch is None:
            return
        for row in rows:
            yield RawRow(index, None, row)
            index += 1


def _read_hf(path: Path) -> Iterator[RawRow]:
    try:
        import datasets
    except ImportError:
        from sft_select.errors import MissingDependency
        raise MissingDependency("datasets", "reading a save_to_disk folder") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(path, f"not a readable datasets folder: {one_line(exc)}") from None
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(path, f"a DatasetDict with splits {list(ds)}: pass one split's folder")
    rows = iter(ds)
    index = 0
    while True:
        try:
            row = next(rows, None)
        except Exception as exc:
            raise InputError(path, f"unreadable datasets data after row {index}: {one_line(exc)}") from None
        if row is None:
            return
        yield RawRow(index, None, dict(row))
        index += 1


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet, "hf": _read_hf}
