"""Step 4 of a streaming run: a last read of the input writes the selected rows and rejected.jsonl in
input order, and parses back the few examples the report shows.

The read takes the raw rows as stored (no parsing into examples, no hashing): table rows are matched to
them by (source, row). A selected file in JSONL gets each row's line from the same read: a JSONL input's
own line (`same`), or the row in the schema of --output-format (io/export.py). When the sample scanned
the rows' offsets (plain JSONL) and the run has worker processes, each worker reads its own range of
table rows from where the first one starts and writes its rejected lines, and its selected lines when
they are JSONL, into temp files, appended here in order (one process writing them all was a large share
of a 1M-row run: docs/benchmarks.md).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from sft_select.core.errors import InputError
from sft_select.core.record import Example
from sft_select.executors import pool as parallel
from sft_select.io.atomic import TEMP_SUFFIX, atomic_open, atomic_path
from sft_select.io.export import Export
from sft_select.io.formats import parse_row
from sft_select.io.load import Loaded, Rejected
from sft_select.io.readers import RawRow, jsonl_row, read_rows
from sft_select.io.row_bytes import as_written, is_jsonl_file, raw_lines
from sft_select.io.writers import (
    append_files,
    json_line,
    output_type,
    rejected_lines,
    write_lines,
    write_rejected,
    write_rows,
)
from sft_select.pipelines.streaming.source import Stream
from sft_select.rundir.outputs import selected_written

_LINES_AT_ONCE = 5_000  # rejected lines a worker holds before writing them


@dataclass(frozen=True)
class _Plan:
    """Each table row's place in the outputs, as columns that forked workers inherit."""

    ids: np.ndarray
    sources: np.ndarray
    rownos: np.ndarray
    selected: np.ndarray  # rows written to the selected file (when it is written)
    dropped: np.ndarray  # rows written to rejected.jsonl
    reasons: np.ndarray
    kept: np.ndarray
    report_ids: set[str]
    export: Export | None = None  # the selected rows' schema; None: as read
    as_lines: bool = False  # the selected file is JSONL: its lines are made where the rows are read

    @classmethod
    def of(cls, table: pd.DataFrame, write_selected: bool, report_ids: set[str], export: Export | None = None,
           as_lines: bool = False) -> "_Plan":
        selected = table["selected"].fillna(False).to_numpy(dtype=bool) & write_selected
        reasons = table["reason"].to_numpy()
        dropped = ~selected if write_selected else pd.notna(reasons)
        kept = table["kept_id"].to_numpy() if "kept_id" in table else np.full(len(table), None)
        return cls(table["id"].to_numpy(), table["source"].to_numpy(), table["row"].to_numpy(), selected, dropped,
                   reasons, kept, report_ids, export, as_lines)


def write_stream_outputs(out: Path, table: pd.DataFrame, stream: Stream, *, write_selected: bool,
                         report_ids: set[str], output_format: str = "same") -> tuple[dict[str, str], Loaded]:
    """Writes rejected.jsonl, the selected rows (when `write_selected`) and scores.parquet; returns the
    outputs and a `Loaded` holding only the examples the report shows."""
    export = Export.of(output_format, stream.formats, stream.fields) if write_selected else None  # before any write
    kind = "jsonl" if export is not None else output_type(list(stream.formats))
    plan = _Plan.of(table, write_selected, report_ids, export, as_lines=write_selected and kind == "jsonl")
    target, chosen = out / "rejected.jsonl", out / "selected.jsonl"
    out.mkdir(parents=True, exist_ok=True)  # the workers' parts go beside it
    prefixes = (target.with_name(f".{target.name}.stream"), chosen.with_name(f".{chosen.name}.stream"))
    parts = _start_parts(plan, stream, prefixes, len(table))
    try:
        if parts is None:
            rows: list = []
            shown: list[Example] = []
            matched = _matched(plan, stream, range(len(table)))
            write_rejected(chain(stream.rejected, _sorted_out(plan, stream, matched, rows, shown)), target)
            if write_selected:
                path = write_lines(rows, chosen) if plan.as_lines else write_rows(rows, out / "selected", kind)
        else:
            done = parts.results()
            shown = [ex for _, _, part_shown in done for ex in part_shown]
            with atomic_open(target) as fh:
                fh.write(rejected_lines(stream.rejected))  # unreadable rows first, as in-memory runs write them
                append_files(fh, [path for path, _, _ in done])
            if plan.as_lines:
                with atomic_open(chosen) as fh:
                    append_files(fh, [part for _, part, _ in done])
                path = chosen
            elif write_selected:
                path = write_rows([row for _, part_rows, _ in done for row in part_rows], out / "selected", kind)
    finally:
        if parts is not None:
            parts.cancel()
        for prefix in prefixes:  # parts not appended: an error on the way
            for stale in prefix.parent.glob(prefix.name + "*"):
                stale.unlink(missing_ok=True)
    outputs = {"rejected": "rejected.jsonl"}
    if write_selected:
        outputs.update(selected_written(out, path.name, export, stream.formats))
    with atomic_path(out / "scores.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    outputs["scores"] = "scores.parquet"
    return outputs, Loaded(examples=shown, rejected=list(stream.rejected), formats=dict(stream.formats))


def _start_parts(plan: _Plan, stream: Stream, prefixes: tuple[Path, Path], n: int) -> parallel.Parts | None:
    """Workers over ranges of table rows, where every input's row offsets are known; else None."""
    if not stream.offsets or any(str(p) not in stream.offsets for p in stream.paths):
        return None
    return parallel.start_parts(partial(_write_part, plan, stream, prefixes), range(n))


def _write_part(plan: _Plan, stream: Stream, prefixes: tuple[Path, Path], positions: range):
    """In a worker: the rejected lines of these table rows into a temp file, and their selected lines into
    another where they are lines; (the first's path, the second's or the selected rows, the report's
    examples)."""
    rows: list = []
    shown: list[Example] = []
    dropped = _sorted_out(plan, stream, _matched(plan, stream, positions), rows, shown)
    # temp names: a killed run's parts are cleaned up
    path, chosen = (f"{prefix}{positions.start}{TEMP_SUFFIX}" for prefix in prefixes)
    with open(path, "wb") as fh, (open(chosen, "wb") if plan.as_lines else nullcontext()) as lines:
        while block := list(islice(dropped, _LINES_AT_ONCE)):
            fh.write(rejected_lines(block).encode("utf-8"))
            if lines is not None:  # bounded memory: the selected lines read so far
                lines.write(b"".join(rows))
                rows.clear()
        if lines is not None:
            lines.write(b"".join(rows))
    return path, (chosen if plan.as_lines else rows), shown


Line = tuple[RawRow, "bytes | None"]  # a row, and its line's bytes where it is a JSONL file's


def _matched(plan: _Plan, stream: Stream, positions: range) -> Iterator[tuple[int, str, RawRow, bytes | None]]:
    """(table position, source, raw row, its line's bytes or None) for each table row in `positions`, in
    order; rows that were unreadable or invalid (they are in `stream.rejected`) are passed over."""
    i, stop = positions.start, positions.stop
    for source, raws in _raw_rows(plan, stream, positions):
        for raw, line in raws:
            if i >= stop or plan.sources[i] != source or plan.rownos[i] != raw.index:
                continue
            yield i, source, raw, line
            i += 1
    if i != stop:
        raise InputError(", ".join(map(str, stream.paths)), "the input changed while the run was reading it")


def _raw_rows(plan: _Plan, stream: Stream, positions: range) -> Iterator[tuple[str, Iterator[Line]]]:
    """The input's raw rows that cover `positions`: by offsets, from each source's first row there to
    its last; without offsets, every row of every input (positions is then the whole table)."""
    if not stream.offsets:
        for path in stream.paths:
            yield str(path), (_jsonl_rows(path, 0, 0, 1, None) if is_jsonl_file(path)
                              else ((raw, None) for raw in read_rows(path, stream.split)))
        return
    sources, rownos = plan.sources[positions.start:positions.stop], plan.rownos[positions.start:positions.stop]
    for path in stream.paths:
        mine = np.flatnonzero(sources == str(path))
        if len(mine):
            offsets, first = stream.offsets[str(path)], int(rownos[mine[0]])
            yield str(path), _jsonl_rows(path, int(offsets.starts[first]), first, int(offsets.lines[first]),
                                         int(rownos[mine[-1]]) + 1)


def _jsonl_rows(path, start: int, first: int, line: int, stop: int | None) -> Iterator[Line]:
    """A JSONL file's rows from row `first` (at byte `start`, on `line`) to `stop - 1`, with their bytes."""
    for k, line_no, raw in raw_lines(path, start=start, first=first, line=line):
        if stop is not None and k >= stop:
            return
        yield jsonl_row(k, line_no, raw), raw


def _sorted_out(plan: _Plan, stream: Stream, matched: Iterator[tuple[int, str, RawRow, bytes | None]],
                rows: list, shown: list[Example]) -> Iterator[Rejected]:
    """The dropped rows as `Rejected`, while the selected rows (or their lines, `plan.as_lines`) go to
    `rows` and the report's examples (parsed back) to `shown`."""
    for i, source, raw, line in matched:
        id_ = plan.ids[i]
        if id_ in plan.report_ids:
            shown.append(_example(stream, id_, source, raw))
        if plan.selected[i]:
            if not plan.as_lines:
                rows.append(raw.data)
            elif plan.export is not None:
                rows.append(json_line(plan.export.row(_example(stream, id_, source, raw))))
            else:  # the input's own line, as in-memory runs write it (rundir/outputs.py)
                rows.append(as_written(line, raw.line) if line is not None else json_line(raw.data))
        elif plan.dropped[i]:
            k = plan.kept[i]
            yield Rejected(source, raw.index, None, raw.data, str(plan.reasons[i]), id=id_,
                           kept_id=k if isinstance(k, str) else None)


def _example(stream: Stream, id_: str, source: str, raw: RawRow) -> Example:
    fmt = stream.formats.get(source)
    parsed = parse_row(raw.data, fmt, stream.fields)
    return Example(id=id_, source=source, row=raw.index, format=fmt, original=raw.data, turns=parsed.turns,
                   text=parsed.text, label=parsed.label)


def report_ids(table: pd.DataFrame, views: Sequence[str], max_points: int, seed: int) -> set[str]:
    """Ids whose texts the report may show: a stratified sample for the map, each view's top and bottom."""
    rng = np.random.default_rng(seed)
    picked: set[str] = set()
    sel = table["selected"].fillna(False).to_numpy(dtype=bool)
    for mask in (sel, ~sel):
        idx = np.flatnonzero(mask)
        take = rng.choice(idx, size=min(len(idx), max_points), replace=False) if len(idx) else idx
        picked.update(table["id"].to_numpy()[take].tolist())
    for name in views:
        col = table[name] if name in table else table.get(f"{name}_raw")
        if col is None:
            continue
        values = pd.to_numeric(col, errors="coerce")
        picked.update(table.loc[values.nlargest(20).index, "id"].tolist())
        picked.update(table.loc[values.nsmallest(20).index, "id"].tolist())
    dropped = table.loc[table["reason"].notna()]
    if len(dropped):  # (an empty column of reasons is float, which has no .str)
        picked.update(dropped.groupby(dropped["reason"].astype(str).str.split(":").str[0]).head(5)["id"].tolist())
    return picked
