"""Write a run's outputs: the selected rows, rejected.jsonl and scores.parquet, each atomically."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sft_select.io.atomic import atomic_path
from sft_select.io.load import Loaded, Rejected
from sft_select.io.writers import output_type, write_rejected, write_rows


def write_outputs(out: Path, table: pd.DataFrame, loaded: Loaded, *, write_selected: bool = True) -> dict[str, str]:
    outputs: dict[str, str] = {}
    by_id = {ex.id: ex for ex in loaded.examples}
    if write_selected:
        kind = output_type(list(loaded.formats))
        rows = [by_id[i].original for i in table.loc[table["selected"].astype(bool), "id"]]
        path = write_rows(rows, out / "selected", kind)
        outputs["selected"] = path.name
    rejected = list(loaded.rejected)
    if write_selected:
        dropped = table[~table["selected"].astype(bool)]
    else:
        dropped = table[table["reason"].notna()]
    # only the three columns read: iterating every column of a wide score table costs seconds at 100k
    dropped = dropped[[c for c in ("id", "reason", "kept_id") if c in dropped.columns]]
    for rec in dropped.itertuples(index=False):
        ex = by_id[rec.id]
        kept = getattr(rec, "kept_id", None)
        rejected.append(Rejected(ex.source, ex.row, None, ex.original, str(rec.reason), id=ex.id,
                                 kept_id=kept if isinstance(kept, str) else None))
    write_rejected(rejected, out / "rejected.jsonl")
    outputs["rejected"] = "rejected.jsonl"
    with atomic_path(out / "scores.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    outputs["scores"] = "scores.parquet"
    return outputs
