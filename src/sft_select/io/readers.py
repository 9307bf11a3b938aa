"""Readers for JSONL, JSON (list), CSV, Parquet, `datasets.save_to_disk` folders (a DatasetDict's by split)
and datasets `load_dataset` reads (a Hub dataset, a local dataset repo folder: io/hub.py); gzip transparently.

Every reader yields `RawRow`s: the 0-based row index, the 1-based line where the file has lines, and
either the row as a dict or the error that made it unreadable. Unreadable rows are not raised here, so
the caller decides between failing (`--on-error fail`) and skipping into rejected.jsonl.
"""
from __future__ import annotations

import codecs
import csv
import errno
import gzip
import io
import json
import os
import re
import stat
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sft_select.core.errors import InputError
from sft_select.io.hub import hub_source, load_split
from sft_select.io.jsonrows import bad_utf8_problem, fast_object, parse_json, parse_number, row_problem, suspicious

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


class SourcedRow(dict):
    """A Parquet row that knows where it was read: its file (`origin`) and its position there. The selected
    rows are then taken from the input's own table (writers.py), so they keep its schema exactly: a map
    column, an int32 or an all-null column cannot be rebuilt from Python values. Otherwise a plain dict."""

    __slots__ = ("origin", "position")

    def __reduce__(self):  # pickled to and from worker processes: keep where it came from
        return _sourced_row, (dict(self), self.origin, self.position)


def _sourced_row(data: dict, origin: "ParquetOrigin", position: int) -> SourcedRow:
    row = SourcedRow(data)
    row.origin, row.position = origin, position
    return row


@dataclass(frozen=True, slots=True)
class ParquetOrigin:
    """The Parquet file rows were read from, as it was then (a changed file is not taken rows from)."""

    path: str
    size: int
    mtime_ns: int
    num_rows: int


class PlacedInputError(InputError):
    """An InputError placed by a JSON list's element or a table's row (1-based), for files without lines:
    "pool.json, element 3: ..." (a "line 3" there was the element's number, not a line of the file)."""

    def __init__(self, path: str | Path, message: str, *, place: str, number: int, field: str | None = None):
        super().__init__(path, message, field=field)
        self.place, self.number = place, number
        what = f"field '{field}': " if field else ""
        self.args = (f"{self.path}, {place} {number}: {what}{message}",)

    def __reduce__(self):  # raised in a worker process, re-raised in the parent
        return _placed_error, (self.path, self.detail, self.place, self.number, self.field)


def _placed_error(path: str, message: str, place: str, number: int, field: str | None) -> PlacedInputError:
    return PlacedInputError(path, message, place=place, number=number, field=field)


def row_error(path: str | Path, message: str, raw: RawRow, *, field: str | None = None) -> InputError:
    """The error for one row of an input: at its line, or (a file without lines) at its element of a JSON
    list or its row of a table, counted from 1."""
    if raw.line is not None:
        return InputError(path, message, line=raw.line, field=field)
    try:
        place = "element" if file_type(Path(path)) == "json" else "row"
    except InputError:
        place = "row"
    return PlacedInputError(path, message, place=place, number=raw.index + 1, field=field)


def check_input(path: Path) -> None:
    """Refuse a path that cannot be read as an input, saying why, before anything opens it: a FIFO or a
    device would block the open (or be read once, by the gzip sniff), a symlink loop is not 'not found'."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(path, "symlink loop: following its links leads back to itself") from None
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise InputError(path, f"broken symlink: it points to '{os.readlink(path)}', which does not exist") \
                from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputError(path, "file not found") from None
        raise InputError(path, f"cannot read the file: {exc.strerror or one_line(exc)}") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(path, "not a regular file (FIFO/device); save it to a file first")


def dataset_dict_splits(path: Path) -> list[str] | None:
    """The splits of a `DatasetDict.save_to_disk` folder (its dataset_dict.json), or None."""
    marker = path / "dataset_dict.json"
    if not marker.is_file():
        return None
    try:
        splits = json.loads(marker.read_text(encoding="utf-8")).get("splits")
    except (OSError, ValueError, AttributeError):
        splits = None
    if not isinstance(splits, list) or not splits:
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").exists())
    return [str(s) for s in splits]


def _missing_split(path: Path, split: str, splits: list[str]) -> InputError:
    return InputError(path, f"a DatasetDict without a split '{split}'; its splits are "
                            f"{', '.join(splits) or '(none)'}: pick one with --split (input.split in the config)")


def file_type(path: Path) -> str:
    """The container type from the name: a `save_to_disk` folder (a Dataset's or a DatasetDict's) is "hf";
    `.gz` is looked through. What `load_dataset` reads (io/hub.py) is written back as JSONL."""
    if hub_source(path) is not None:
        return "jsonl"
    if path.is_dir():
        if not (path / "dataset_info.json").exists() and not (path / "state.json").exists() \
                and dataset_dict_splits(path) is None:
            raise InputError(path, "a folder input must be a Hugging Face dataset saved with save_to_disk (a "
                                   "Dataset or a DatasetDict), or a dataset repo folder with its README.md, as "
                                   "`hf download` writes it")
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


def data_bytes(path: Path, split: str | None = None) -> int:
    """About how many bytes the input's data take once read, which is what a run holds in memory: the
    decompressed size of a gzip file (its trailer's; a trailer smaller than the file itself, a multi-member
    file or one past 4 GiB, counts as 4 GiB more), a Parquet file's rows at the decoded size of its first
    1,000 (its metadata counts encoded bytes: repeated strings dictionary-encoded), a datasets folder's
    files (of a DatasetDict, only the `split` read), else the file's size."""
    if path.is_dir() and split is not None and split in (dataset_dict_splits(path) or []):
        path = path / split
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


def read_rows(path: str | Path, split: str = "train") -> Iterator[RawRow]:
    """The rows of one input. `split`: the split read from a DatasetDict folder or a `load_dataset` input
    (a Hub dataset, a dataset repo folder); other inputs have none and ignore it."""
    source = hub_source(path)
    if source is not None:
        yield from _dataset_rows(load_split(source, split), source.name)
        return
    path = Path(path)
    check_input(path)
    kind = file_type(path)
    try:
        yield from (_read_hf(path, split) if kind == "hf" else _READERS[kind](path))
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
                raise unreadable_after(path, line_no, exc) from None
            if raw_line is None:
                return
            line_no += 1
            if not raw_line.strip():
                continue
            yield jsonl_row(index, line_no, raw_line)
            index += 1


# A JSONL row larger than this is refused before it is parsed: parsing and hashing a row take 10-14x its size
# in memory (a 200 MB row peaked at 4.8 GB), and the filters drop any row over 100,000 characters anyway.
MAX_ROW_BYTES = 64 * 2**20


def jsonl_row(index: int, line_no: int, raw_line: bytes) -> RawRow:
    if len(raw_line) > MAX_ROW_BYTES:
        return RawRow(index, line_no, None, f"the row is {len(raw_line) / 2**20:.0f} MB, over the "
                      f"{MAX_ROW_BYTES // 2**20} MB a row may have (the filters drop rows over 100,000 "
                      "characters anyway)", raw_line.decode("utf-8", "replace").rstrip("\r\n"))
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


def unreadable_after(path: Path, last_line: int, exc: BaseException) -> InputError:
    """The error for a line-based file whose data end early or break (a truncated or corrupt gzip stream,
    a read error): it names the last line read whole, so the user knows how much of the file is good."""
    what = "truncated or corrupt gzip data" if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)) \
        else "cannot read the file"
    after = f"after line {last_line}, the last complete one" if last_line else "before its first line"
    return InputError(path, f"{what} {after} ({one_line(exc)})", line=last_line + 1)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (pyarrow's end with a newline, some span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_json(path: Path) -> Iterator[RawRow]:
    with open_bytes(path) as fh:
        blob = fh.read()
    bad_utf8 = None  # where the first byte that is not UTF-8 is, when there is one
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Read on with each bad byte kept as a lone surrogate (surrogateescape): the elements holding
        # one are unreadable rows (skipped under --on-error skip), not the whole file.
        line = blob.count(b"\n", 0, exc.start) + 1
        bad_utf8 = f"the file's first invalid byte is at offset {exc.start}, line {line}"
        text = blob.decode("utf-8-sig", "surrogateescape")
    try:
        data = json.loads(text, parse_float=parse_number)
    except json.JSONDecodeError as exc:
        also = f"; the file also holds invalid UTF-8 ({bad_utf8})" if bad_utf8 else ""
        raise InputError(path, f"malformed JSON: {exc.msg} (column {exc.colno}){also}", line=exc.lineno) \
            from None
    except RecursionError:
        raise InputError(path, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer literal longer than Python's 4300-digit limit
        raise InputError(path, f"malformed JSON: {exc}") from None
    walk = bad_utf8 is not None or suspicious(text)  # only then is each row walked (depth, surrogates)
    if isinstance(data, dict):
        # Some dumps wrap the list, e.g. {"data": [...]}; accept exactly one list-valued key.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(path, "expected a JSON list of objects (or an object holding exactly one list)")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON list of objects, got {type(data).__name__}")
    first_bad = True
    for index, item in enumerate(data):
        error = bad_utf8_problem(item) if bad_utf8 is not None else None
        if error is not None:
            if first_bad:  # where the first bad byte is, said once
                error, first_bad = f"{error} ({bad_utf8})", False
            yield RawRow(index, None, None, error, _dump_head(_replace_bad_bytes(item), ensure_ascii=False))
            continue
        if not isinstance(item, dict):
            error = f"expected a JSON object, got {type(item).__name__}"
        elif walk:
            error = row_problem(item)
        if error is None:
            yield RawRow(index, None, item)
        else:  # ensure_ascii: the raw text must be writable even when it holds a lone surrogate
            yield RawRow(index, None, None, error, _dump_head(item))


def _dump_head(item: Any, limit: int = 10_000, ensure_ascii: bool = True) -> str:
    try:
        return json.dumps(item, ensure_ascii=ensure_ascii)[:limit]
    except (RecursionError, ValueError):
        return "<unprintable: nested too deeply>"


_BAD_BYTES = [0]  # invalid bytes the CSV decoder has met in this process, all files together


def _keep_bad_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    """surrogateescape (each invalid byte kept as a lone surrogate), counted: a CSV reader searches its
    rows for such bytes only once the count has moved since it started, so a clean file pays nothing."""
    _BAD_BYTES[0] += 1
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error("sft_select.keep_bad_bytes", _keep_bad_bytes)


def _csv_line(cells: list) -> str:
    """Cells written back as one CSV line: a row kept whole in rejected.jsonl, bad bytes as U+FFFD."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([_replace_bad_bytes(c) for c in cells])
    return out.getvalue()


def _replace_bad_bytes(value: Any) -> Any:
    """A value read with surrogateescape made writable: each kept invalid byte becomes U+FFFD (as does a
    lone surrogate from a JSON escape)."""
    if isinstance(value, str):
        return value if _valid_text(value) else _SURROGATES.sub(_as_replacement, value)
    if isinstance(value, dict):
        return {_replace_bad_bytes(k): _replace_bad_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_bad_bytes(v) for v in value]
    return value


def _read_csv(path: Path) -> Iterator[RawRow]:
    csv.field_size_limit(sys.maxsize)
    bad_before = _BAD_BYTES[0]
    with open_bytes(path) as fb:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark, which would else end up in
        # the first column's name. An invalid byte makes its row unreadable (skipped under --on-error
        # skip), not the file.
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", errors="sft_select.keep_bad_bytes", newline="")
        reader = csv.DictReader(text)
        last = 0  # the last line of the last row read whole
        try:
            fieldnames = reader.fieldnames
            if _BAD_BYTES[0] != bad_before and fieldnames and not all(map(_valid_text, fieldnames)):
                line, offset = _first_bad_utf8(path)
                at = f" at byte {offset}" if offset is not None else ""
                raise InputError(path, f"invalid UTF-8 in the header{at}", line=line or 1)
            for index, row in enumerate(reader):
                line = reader.line_num
                cells = None
                if None in row:  # more cells than header names: the row kept whole, as a CSV line
                    cells = [row[k] for k in reader.fieldnames or ()] + list(row[None])
                    error = "more cells than header columns"
                elif _BAD_BYTES[0] != bad_before and not all(map(_valid_text, row.values())):
                    cells, error = list(row.values()), "invalid UTF-8 in this row"
                if cells is not None:
                    yield RawRow(index, line, None, error, _csv_line(cells))
                else:
                    yield RawRow(index, line, dict(row))
                last = line
        except csv.Error as exc:
            raise InputError(path, f"malformed CSV: {one_line(exc)}", line=reader.line_num or None) from None
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz stream
            raise unreadable_after(path, last, exc) from None


_SURROGATES = re.compile("[\ud800-\udfff]+")


def _as_replacement(match: re.Match) -> str:
    try:
        return match.group().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not from a byte: a lone surrogate escape
        return "\ufffd" * len(match.group())


def _valid_text(value: str | None) -> bool:
    """No byte that was not UTF-8 (kept as a lone surrogate by the reader's error handler)."""
    if value is None or value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    st = path.stat()
    origin = ParquetOrigin(str(path), st.st_size, st.st_mtime_ns, pf.metadata.num_rows)
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
            tagged = SourcedRow(row)
            tagged.origin, tagged.position = origin, index
            yield RawRow(index, None, tagged)
            index += 1


def _read_hf(path: Path, split: str) -> Iterator[RawRow]:
    try:
        import datasets
    except ImportError:
        from sft_select.core.errors import MissingDependency
        raise MissingDependency("datasets", "reading a save_to_disk folder") from None
    splits = dataset_dict_splits(path)
    if splits is not None and split not in splits:  # before load_from_disk, which opens every split
        raise _missing_split(path, split, splits)
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(path, f"not a readable datasets folder: {one_line(exc)}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise _missing_split(path, split, list(ds))
        ds = ds[split]
    yield from _dataset_rows(ds, path)


def _dataset_rows(ds, path: str | Path) -> Iterator[RawRow]:
    """The rows of a `datasets.Dataset`, as plain dicts."""
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


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}
