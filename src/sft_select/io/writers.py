"""Write rows back in the input's own container type, atomically: the same keys, values and order of keys
as read (a JSONL input's selected lines are its own bytes instead: row_bytes.py); and rejected.jsonl.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import orjson

from sft_select.core.errors import InputError
from sft_select.core.record import Example
from sft_select.executors import pool as parallel
from sft_select.io.atomic import TEMP_SUFFIX, atomic_open, atomic_path
from sft_select.io.jsonrows import JsonNumber
from sft_select.io.load import Rejected
from sft_select.io.readers import ParquetOrigin, SourcedRow, file_type

_BLOCK = 50_000  # rejected rows in memory at a time
SUFFIX = {"jsonl": "jsonl", "json": "json", "csv": "csv", "parquet": "parquet", "hf": "hf"}


def output_type(sources: Sequence[str]) -> str:
    """The container type for the selected file: the inputs' own when they agree, else JSONL."""
    kinds = {file_type(Path(s)) for s in sources}
    return kinds.pop() if len(kinds) == 1 else "jsonl"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, dict):  # a SourcedRow (a Parquet row), which orjson passes here as a dict subclass
        return dict(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars from Parquet inputs
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def _orjson_default(obj: Any) -> Any:
    if type(obj) is JsonNumber:  # a number past a double's range, written as it was read
        return orjson.Fragment(obj.text)
    return _json_default(obj)


def json_text(obj: Any, **kwargs: Any) -> str:
    """json.dumps that writes only valid JSON: a number past a double's range as it was read (`1e400`,
    a `JsonNumber`), any other non-finite float (a Parquet NaN, a `NaN` literal Python's json accepts) as
    null; json.dumps would write `Infinity` and `NaN`, which no strict JSON reader accepts."""
    kwargs = {"ensure_ascii": False, "default": _json_default, **kwargs}
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:  # a non-finite float (rare): the slow way
        pass
    numbers: dict[str, str] = {}
    text = json.dumps(_finite(obj, numbers, uuid.uuid4().hex), allow_nan=False, **kwargs)
    for token, literal in numbers.items():
        text = text.replace(json.dumps(token), literal, 1)
    return text


def _finite(value: Any, numbers: dict[str, str], nonce: str) -> Any:
    """`value` with each non-finite float replaced: a JsonNumber by a unique token (its text goes in
    `numbers`, put back once dumped), any other by None."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if type(value) is JsonNumber:
            token = f"{nonce}:{len(numbers)}"
            numbers[token] = value.text
            return token
        return None
    if isinstance(value, dict):
        return {k: _finite(v, numbers, nonce) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, numbers, nonce) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy values may hold NaN
        return _finite(value.tolist(), numbers, nonce)
    return value


def write_rows(rows: Sequence[dict[str, Any]], target: Path, kind: str) -> Path:
    """Write `rows` to `target` (suffix added from `kind`) and return the path written."""
    target = target.with_name(f"{target.name}.{SUFFIX[kind]}")
    if kind == "jsonl":
        with atomic_open(target) as fh:  # compact lines, as rejected.jsonl's (orjson: ~8x json.dumps)
            for start in range(0, len(rows), 10_000):
                fh.write("".join(map(_dumps, rows[start:start + 10_000])))
    elif kind == "json":
        with atomic_open(target) as fh:
            fh.write(json_text(list(rows), indent=1))
            fh.write("\n")
    elif kind == "csv":
        header: list[str] = []
        for row in rows:
            header.extend(k for k in row if k not in header)
        with atomic_open(target, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        table = parquet_table(rows)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
    elif kind == "hf":
        import datasets

        with atomic_path(target, is_dir=True) as tmp:
            datasets.Dataset.from_list(list(rows)).save_to_disk(str(tmp))
    else:  # pragma: no cover - kinds come from file_type
        raise ValueError(kind)
    return target


def parquet_table(rows: Sequence[dict[str, Any]]):
    """The rows as an Arrow table. Rows read from Parquet files (`SourcedRow`s) are taken from their
    input's own table (`Table.take`), so the table has the input's schema exactly: rebuilt from Python
    values, a map column failed (ArrowTypeError), an int32 column came back int64, and a column null in
    every row written came back typed null. Other rows (a row made by `augment`, a mix of inputs with
    different schemas) are converted, in the inputs' schema when they fit it."""
    import pyarrow as pa

    rows = list(rows)
    origins = {row.origin for row in rows if isinstance(row, SourcedRow)}
    if rows and all(isinstance(row, SourcedRow) for row in rows):
        tables = [_take(origin, [row.position for row in run])
                  for origin, run in groupby(rows, key=lambda row: row.origin)]
        if all(t.schema == tables[0].schema for t in tables):
            return pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
    if origins:
        schemas = {_schema(origin) for origin in origins}
        if len(schemas) == 1:
            try:
                return pa.Table.from_pylist([dict(row) for row in rows], schema=schemas.pop())
            except (pa.ArrowException, ValueError, TypeError):
                pass  # rows that do not fit the input's schema: their own, as inferred
    return pa.Table.from_pylist([dict(row) for row in rows])


def _schema(origin: ParquetOrigin):
    import pyarrow.parquet as pq

    return pq.ParquetFile(_unchanged(origin)).schema_arrow


def _unchanged(origin: ParquetOrigin) -> str:
    """The input file, checked to be the one the rows were read from."""
    try:
        st = os.stat(origin.path)
    except OSError:
        st = None
    if st is None or (st.st_size, st.st_mtime_ns) != (origin.size, origin.mtime_ns):
        raise InputError(origin.path, "the input changed while the run was reading it")
    return origin.path


def _take(origin: ParquetOrigin, positions: list[int]):
    """Rows of a Parquet file by position, in the order given, reading only the row groups that hold
    them (a streaming run's input need not fit in memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(_unchanged(origin))
    if pf.metadata.num_rows != origin.num_rows:
        raise InputError(origin.path, "the input changed while the run was reading it")
    wanted = np.asarray(positions, dtype=np.int64)
    if not len(wanted):
        return pf.schema_arrow.empty_table()
    groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(groups)])
    unique = np.unique(wanted)
    parts = []
    for g in np.unique(np.searchsorted(starts, unique, side="right") - 1):
        mine = unique[(unique >= starts[g]) & (unique < starts[g + 1])]
        parts.append(pf.read_row_group(int(g)).take(pa.array(mine - starts[g])))
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    order = np.searchsorted(unique, wanted)  # the rows in the order asked (repeats allowed)
    return table.take(pa.array(order)).combine_chunks()


def write_rejected(rejected: Iterable[Rejected], target: Path, dropped: Dropped | None = None,
                   meanwhile: Callable[[], None] | None = None) -> int:
    """rejected.jsonl: one object per line with the original `row` and the `reason` it left; `dropped`
    (examples that were read but not selected) follow the `rejected` rows. `meanwhile()` runs in this
    process while the workers write the dropped rows' lines (a run's other outputs)."""
    from itertools import islice

    n = 0
    # An in-memory run's list: each block's lines are made in the run's worker processes (most of a run's
    # rows land here). A generator (a streaming run over inputs without row offsets): one
    # block at a time in this process; with offsets, stream/outputs.py splits the rows over workers.
    workers = isinstance(rejected, Sequence)
    prefix = target.with_name(f".{target.name}.{os.getpid()}.part")
    # The dropped rows' lines: with workers, each writes its part's lines as bytes into a temp file of its
    # own, appended here in order. Sending them back as strings cost the pickling, the pipe and an encode
    # of all the lines (most of the write step, this process waiting on the pipe).
    started = (parallel.start_parts(partial(_dropped_file, dropped, prefix), range(len(dropped.examples)))
               if dropped is not None else None)
    try:
        if meanwhile is not None:
            meanwhile()
        rows = iter(rejected)
        with atomic_open(target) as fh:
            while block := list(islice(rows, _BLOCK)):
                for part in parallel.run_parts(rejected_lines, block) if workers else [rejected_lines(block)]:
                    fh.write(part)
                n += len(block)
            if dropped is not None:
                _append_dropped(fh, dropped, started)
                n += len(dropped.examples)
    finally:
        if started is not None:
            started.cancel()
        for stale in prefix.parent.glob(prefix.name + "*"):  # parts not appended: an error on the way
            stale.unlink(missing_ok=True)
    return n


def _append_dropped(fh, dropped: Dropped, started: parallel.Parts | None) -> None:
    if started is None:
        fh.write(_dropped_lines(dropped, range(len(dropped.examples))))
        return
    append_files(fh, started.results())


def append_files(fh, paths: Sequence[str]) -> None:
    """Append the bytes of the files workers wrote (parts of an output) to the text file `fh`, in order,
    removing each once appended."""
    fh.flush()
    for path in paths:
        with open(path, "rb") as src:
            shutil.copyfileobj(src, fh.buffer, 1 << 20)
        Path(path).unlink()


def _dropped_file(dropped: Dropped, prefix: Path, positions: range) -> str:
    tmp = f"{prefix}{positions.start}{TEMP_SUFFIX}"  # a temp name: a killed run's parts are cleaned up
    with open(tmp, "wb") as out:
        for start in range(positions.start, positions.stop, 5_000):  # bounded memory: 5,000 lines at a time
            out.write(_dropped_lines(dropped, range(start, min(start + 5_000, positions.stop))).encode("utf-8"))
    return tmp


@dataclass(frozen=True)
class Dropped:
    """Examples that left the pool after reading, as columns: no `Rejected` per row (building one per
    dropped row was a measurable share of the parent's time), and the workers read the columns they
    inherit."""

    examples: Sequence[Example]
    reasons: Sequence[str]
    kept_ids: Sequence[str | None]


def _dropped_lines(dropped: Dropped, positions: range) -> str:
    lines = []
    for i in positions:
        ex = dropped.examples[i]
        lines.append(_line(ex.original, dropped.reasons[i], ex.source, ex.row, None, ex.id, dropped.kept_ids[i]))
    return "".join(lines)


def rejected_lines(rejected: Sequence[Rejected]) -> str:
    return "".join(_line(r.original, r.reason, r.source, r.row, r.line, r.id, r.kept_id) for r in rejected)


def _line(row: Any, reason: str, source: str, index: int, line: int | None, id_: str | None,
          kept_id: str | None) -> str:
    """One rejected.jsonl line; keys that do not apply are left out."""
    obj = {"row": row, "reason": reason, "source": source, "row_index": index}
    if line is not None:
        obj["line"] = line
    if id_ is not None:
        obj["id"] = id_
    if kept_id is not None:
        obj["kept_id"] = kept_id
    return _dumps(obj)


# Dates, and subclasses of str, int, dict and list, go to `_json_default` as they do under json.dumps.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def json_line(obj: Any) -> bytes:
    """One compact line of JSON as bytes, as `_dumps` writes it (orjson where it writes the same)."""
    try:
        line = orjson.dumps(obj, default=_orjson_default, option=_ORJSON_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        if b"null" not in line:
            return line
    except TypeError:  # orjson.JSONEncodeError
        pass
    return (json_text(obj, separators=(",", ":")) + "\n").encode("utf-8")


def write_lines(lines: Iterable[bytes], target: Path) -> Path:
    """Write lines of bytes (each ending in a newline) to `target`, atomically; returns the path."""
    with atomic_open(target, "wb") as fh:
        block: list[bytes] = []
        for line in lines:
            block.append(line)
            if len(block) >= 10_000:
                fh.write(b"".join(block))
                block = []
        fh.write(b"".join(block))
    return target


def _dumps(obj: dict[str, Any]) -> str:
    """One compact line of JSON. orjson writes it ~8x faster than json.dumps (most of a run's rows are
    rejected ones). Where the two could differ, json.dumps writes it: orjson refuses integers past 64 bits
    and non-string keys, and writes NaN and infinity as null, so any line with a null is written again
    (`json_text`: valid JSON still, never `NaN` or `Infinity`)."""
    try:
        line = orjson.dumps(obj, default=_orjson_default, option=_ORJSON_OPTIONS)
        if b"null" not in line:
            return line.decode("utf-8") + "\n"
    except TypeError:  # orjson.JSONEncodeError
        pass
    return json_text(obj, separators=(",", ":")) + "\n"
