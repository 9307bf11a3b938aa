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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sft_select.errors import InputError

FILE_TYPES = ("jsonl", "json", "csv", "parquet", "hf")
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


def _open_bytes(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


def read_rows(path: str | Path) -> Iterator[RawRow]:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    kind = file_type(path)
    try:
        yield from _READERS[kind](path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"cannot read the file: {exc}") from None


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    with _open_bytes(path) as fh:
        index = 0
        for line_no, raw_line in enumerate(fh, start=1):
            if not raw_line.strip():
                continue
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(index, line_no, None, f"invalid UTF-8 at byte {exc.start}",
                             raw_line.decode("utf-8", "replace").rstrip("\n"))
                index += 1
                continue
            try:
                data = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                yield RawRow(index, line_no, None, f"malformed JSON: {msg}", text.rstrip("\n"))
                index += 1
                continue
            if not isinstance(data, dict):
                yield RawRow(index, line_no, None, f"expected a JSON object, got {type(data).__name__}",
                             text.rstrip("\n"))
            else:
                yield RawRow(index, line_no, data)
            index += 1


def _read_json(path: Path) -> Iterator[RawRow]:
    with _open_bytes(path) as fh:
        blob = fh.read()
    try:
        data = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"invalid UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"malformed JSON: {exc.msg}", line=exc.lineno) from None
    except RecursionError:
        raise InputError(path, "malformed JSON: nested too deeply") from None
    if isinstance(data, dict):
        # Some dumps wrap the list, e.g. {"data": [...]}; accept exactly one list-valued key.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(path, "expected a JSON list of objects (or an object holding exactly one list)")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON list of objects, got {type(data).__name__}")
    for index, item in enumerate(data):
        if isinstance(item, dict):
            yield RawRow(index, None, item)
        else:
            yield RawRow(index, None, None, f"expected a JSON object, got {type(item).__name__}",
                         json.dumps(item, ensure_ascii=False)[:10_000])


def _read_csv(path: Path) -> Iterator[RawRow]:
    csv.field_size_limit(sys.maxsize)
    with _open_bytes(path) as fb:
        text = io.TextIOWrapper(fb, encoding="utf-8", newline="")
        try:
            reader = csv.DictReader(text)
            for index, row in enumerate(reader):
                line = reader.line_num
                if None in row:  # more cells than header names
                    yield RawRow(index, line, None, "more cells than header columns",
                                 json.dumps(row.get(None), ensure_ascii=False))
                    continue
                yield RawRow(index, line, dict(row))
        except UnicodeDecodeError as exc:
            raise InputError(path, f"invalid UTF-8 at byte {exc.start}") from None
        except csv.Error as exc:
            raise InputError(path, f"malformed CSV: {exc}") from None


def _read_parquet(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(path, f"not a readable Parquet file: {exc}") from None
    index = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
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
        raise InputError(path, f"not a readable datasets folder: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(path, f"a DatasetDict with splits {list(ds)}: pass one split's folder")
    for index, row in enumerate(ds):
        yield RawRow(index, None, dict(row))


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet, "hf": _read_hf}
