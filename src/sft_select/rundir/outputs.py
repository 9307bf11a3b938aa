"""Write a run's outputs: the selected rows, rejected.jsonl and scores.parquet, each atomically.

The selected file is the input's rows (`output.format: same`: a JSONL input's own lines, byte for byte;
other containers' rows as read, in the input's container) or every row in one trainer's schema
(io/export.py) as selected.jsonl, with LLaMA-Factory's dataset_info.json beside it where it has one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from sft_select.core.progress import info
from sft_select.core.record import Example
from sft_select.io.atomic import atomic_path, remove_path, write_json
from sft_select.io.export import Export, mixed_formats_note
from sft_select.io.load import Loaded
from sft_select.io.row_bytes import original_lines
from sft_select.io.writers import SUFFIX, Dropped, json_line, output_type, write_lines, write_rejected, write_rows


def write_outputs(out: Path, table: pd.DataFrame, loaded: Loaded, *, write_selected: bool = True,
                  output_format: str = "same", fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """`output_format` (config output.format): the schema of the selected rows; "same" writes them as read.
    `fields`: the input's field mapping (config input.fields), which the other schemas read through."""
    export = Export.of(output_format, loaded.formats, fields) if write_selected else None  # before any write
    outputs: dict[str, str] = {}
    by_id = {ex.id: ex for ex in loaded.examples}
    mask = ~table["selected"].astype(bool) if write_selected else table["reason"].notna()
    # only the three columns read, as lists: copying the wide score table's dropped rows, iterating it, or
    # a pandas column of Arrow strings element by element, is slow on a large pool
    dropped = table.loc[mask, [c for c in ("id", "reason", "kept_id") if c in table.columns]]
    kept_ids = dropped["kept_id"].tolist() if "kept_id" in dropped.columns else [None] * len(dropped)

    def the_others() -> None:  # while the workers write the dropped rows' lines
        if write_selected:
            chosen = [by_id[i] for i in table.loc[table["selected"].astype(bool), "id"]]
            outputs.update(_write_selected(out, chosen, loaded.formats, export))
        with atomic_path(out / "scores.parquet") as tmp:
            table.to_parquet(tmp, index=False)

    write_rejected(list(loaded.rejected), out / "rejected.jsonl",
                   Dropped([by_id[i] for i in dropped["id"].tolist()], [str(r) for r in dropped["reason"].tolist()],
                           [k if isinstance(k, str) else None for k in kept_ids]), meanwhile=the_others)
    outputs["rejected"] = "rejected.jsonl"
    outputs["scores"] = "scores.parquet"
    return outputs


def _write_selected(out: Path, chosen: Sequence[Example], formats: Mapping[str, str],
                    export: Export | None) -> dict[str, str]:
    if export is not None:
        path = write_lines((json_line(export.row(ex)) for ex in chosen), out / "selected.jsonl")
    elif (kind := output_type(list(formats))) == "jsonl":
        lines = original_lines(chosen)  # None: a row of another container, written as read
        path = write_lines((line if line is not None else json_line(ex.original) for ex, line in zip(chosen, lines)),
                           out / "selected.jsonl")
    else:
        path = write_rows([ex.original for ex in chosen], out / "selected", kind)
    return selected_written(out, path.name, export, formats)


SELECTED = tuple(f"selected.{suffix}" for suffix in dict.fromkeys(SUFFIX.values()))


def selected_written(out: Path, name: str, export: Export | None, formats: Mapping[str, str]) -> dict[str, str]:
    """After the selected file `name` is written: dataset_info.json beside it (or an earlier one gone),
    an earlier selection of another name gone (the run folder is ours: `select` with another
    --output-format, or a resumed run of other inputs), the note on mixed formats; the manifest's outputs."""
    outputs = {"selected": name}
    entry = export.dataset_info(name) if export is not None else None
    if entry is not None:
        write_json(out / "dataset_info.json", entry)
        outputs["dataset_info"] = "dataset_info.json"
    else:
        remove_path(out / "dataset_info.json")
    if export is not None:
        outputs["selected_format"] = export.format
    for other in SELECTED:
        if other != name:
            remove_path(out / other)
    note = mixed_formats_note(formats) if export is None else None
    if note is not None:
        from rich.markup import escape

        info(f"[yellow]note:[/yellow] {escape(note)}")
    return outputs
