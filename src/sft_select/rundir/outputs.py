"""Write a run's outputs: the selected rows, rejected.jsonl and scores.parquet, each atomically."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sft_select.io.atomic import atomic_path
from sft_select.io.load import Loaded
from sft_select.io.writers import Dropped, output_type, write_rejected, write_rows


def write_outputs(out: Path, table: pd.DataFrame, loaded: Loaded, *, write_selected: bool = True,
                  output_format: str = "same") -> dict[str, str]:
    """`output_format` (config output.format): the schema of the selected rows; "same" writes them as read."""
    outputs: dict[str, str] = {}
    by_id = {ex.id: ex for ex in loaded.examples}
    mask = ~table["selected"].astype(bool) if write_selected else table["reason"].notna()
    # only the three columns read, as lists: copying the wide score table's dropped rows, iterating it, or
    # a pandas column of Arrow strings element by element, is slow on a large pool
    dropped = table.loc[mask, [c for c in ("id", "reason", "kept_id") if c in table.columns]]
    kept_ids = dropped["kept_id"].tolist() if "kept_id" in dropped.columns else [None] * len(dropped)

    def the_others() -> None:  # while the workers write the dropped rows' lines
        if write_selected:
            kind = output_type(list(loaded.formats))
            rows = [by_id[i].original for i in table.loc[table["selected"].astype(bool), "id"]]
            outputs["selected"] = write_rows(rows, out / "selected", kind).name
        with atomic_path(out / "scores.parquet") as tmp:
            table.to_parquet(tmp, index=False)

    write_rejected(list(loaded.rejected), out / "rejected.jsonl",
                   Dropped([by_id[i] for i in dropped["id"].tolist()], [str(r) for r in dropped["reason"].tolist()],
                           [k if isinstance(k, str) else None for k in kept_ids]), meanwhile=the_others)
    outputs["rejected"] = "rejected.jsonl"
    outputs["scores"] = "scores.parquet"
    return outputs
