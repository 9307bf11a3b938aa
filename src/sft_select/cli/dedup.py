"""`sft-select dedup`: exact, near (and optionally semantic) dedup and decontamination on their own.

No scoring: the first member of each duplicate cluster (in input order) is kept. Writes a run-like folder:

  OUT/kept.<fmt>       the kept rows, in the input's own format
  OUT/rejected.jsonl   every row that left, with its reason and, for duplicates, the id of the kept row
  OUT/clusters.parquet id, duplicate cluster, kind, reason and kept_id of every example
  OUT/manifest.json    inputs, config, per-step counts and times, versions; written last
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer
from rich.markup import escape

from sft_select.core.progress import Timer, info


def run_dedup(inputs: Sequence[str | Path], out: str | Path, cfg=None, *, force: bool = False) -> dict[str, Any]:
    """Dedup `inputs` into `out`; returns the manifest."""
    import numpy as np

    from sft_select.config.schema import Config, dump_config
    from sft_select.core.errors import ConfigError, InputError
    from sft_select.io.atomic import atomic_open, atomic_path
    from sft_select.io.load import Rejected, load
    from sft_select.io.writers import output_type, write_rejected, write_rows
    from sft_select.rundir.manifest import file_fingerprint, versions, write_strict_json
    from sft_select.preprocess.clusters import resolve
    from sft_select.preprocess.run import run_preprocess
    from sft_select.rundir.folder import prepare
    from sft_select.scoring.table import base_table

    cfg = cfg or Config()
    if not inputs:
        raise ConfigError("give at least one input file")
    out = Path(out)
    timer = Timer()
    with timer.step("load"):
        loaded = load(inputs, fmt=cfg.input.format, fields=cfg.input.fields, on_error=cfg.input.on_error)
    if not loaded.examples:
        raise InputError(", ".join(map(str, inputs)), "no usable examples in the input")
    prepare(out, force=force)
    for stale in out.glob("kept.*"):  # a previous run may have written another format
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    with timer.step("preprocess"):
        pre = run_preprocess(loaded.examples, cfg.preprocess, embedder=cfg.embedding.model)
    table = base_table(loaded.examples, pre)
    table["reason"] = table["filter_reason"]
    table["score"] = np.nan
    table = resolve(table, "first")  # no scores here: the earliest member of a cluster stays
    kept_mask = table["reason"].isna().to_numpy()
    with timer.step("write"):
        kind = output_type(list(loaded.formats))
        kept_path = write_rows([loaded.examples[i].original for i in np.flatnonzero(kept_mask)], out / "kept", kind)
        rejected = list(loaded.rejected)
        for i in np.flatnonzero(~kept_mask):
            ex, kept_id = loaded.examples[i], table.at[i, "kept_id"]
            rejected.append(Rejected(ex.source, ex.row, None, ex.original, str(table.at[i, "reason"]), id=ex.id,
                                     kept_id=kept_id if isinstance(kept_id, str) else None))
        write_rejected(rejected, out / "rejected.jsonl")
        with atomic_path(out / "clusters.parquet") as tmp:
            table[["id", "source", "row", "dup_cluster", "dup_kind", "reason", "kept_id"]].to_parquet(tmp, index=False)
    reasons = table["reason"].dropna().astype(str).str.split(":").str[0].value_counts().sort_index()
    manifest = {
        "tool": "sft-select", "command": "dedup", "status": "complete", "keep": "first",
        "inputs": [dict(file_fingerprint(p), format=loaded.formats.get(str(p))) for p in inputs],
        "counts": {"rows_read": len(table) + len(loaded.rejected), "unreadable": len(loaded.rejected),
                   "examples": len(table), "kept": int(kept_mask.sum()),
                   "by_reason": {k: int(v) for k, v in reasons.items()}},
        "steps": [s.as_dict() for s in pre.steps],
        "timings": timer.seconds,
        "outputs": {"kept": kept_path.name, "rejected": "rejected.jsonl", "clusters": "clusters.parquet"},
        "versions": versions(),
        "config": cfg.model_dump(mode="json"),
    }
    with atomic_open(out / "config.yaml") as fh:
        fh.write(dump_config(cfg))
    write_strict_json(out / "manifest.json", manifest)
    info(f"Kept {int(kept_mask.sum())} of {len(table)} examples → {escape(str(kept_path))}")
    return manifest


def dedup_overrides(*, exact: bool | None, near: bool | None, near_threshold: float | None, ngram: int | None,
                    num_perm: int | None, field: str | None, semantic: bool | None,
                    semantic_threshold: float | None, filters: bool, lang: str | None,
                    decontaminate: list[Path] | None) -> dict[str, Any]:
    """The dedup command's flags as a `preprocess` config section: only what the user gave overrides the
    config file, except the filters, which `dedup` applies only when asked (`--filters` or `--lang`)."""
    def given(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    pre: dict[str, Any] = {
        **given(exact_dedup=exact),
        "near": given(enabled=near, threshold=near_threshold, ngram=ngram, num_perm=num_perm, field=field),
        "semantic": given(enabled=semantic, threshold=semantic_threshold, field=field),
        "filters": {"enabled": filters},
    }
    if lang:
        pre["filters"]["lang"] = [c.strip() for c in lang.split(",") if c.strip()]
    if decontaminate:
        pre["decontaminate"] = {"files": [str(p) for p in decontaminate]}
    return {"preprocess": pre}


def dedup(inputs: List[Path] = typer.Argument(..., help="Input files (jsonl, json, csv, parquet, datasets folder)."),
          out: Path = typer.Option(..., "--out", "-o", help="Folder to write kept rows, rejected.jsonl, manifest."),
          config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (its preprocess section)."),
          fmt: Optional[str] = typer.Option(None, "--format", help="alpaca | sharegpt | openai | prompt_completion | text_label"),
          on_error: Optional[str] = typer.Option(None, "--on-error", help="fail (default) or skip bad rows"),
          exact: Optional[bool] = typer.Option(None, "--exact/--no-exact", help="Exact dedup (default on)."),
          near: Optional[bool] = typer.Option(None, "--near/--no-near", help="MinHash-LSH near dedup (default on)."),
          near_threshold: Optional[float] = typer.Option(None, "--near-threshold", help="Jaccard threshold (0.7)."),
          ngram: Optional[int] = typer.Option(None, "--ngram", help="Word n-gram size of the shingles (3)."),
          num_perm: Optional[int] = typer.Option(None, "--num-perm", help="MinHash permutations (128)."),
          field: Optional[str] = typer.Option(None, "--field", help="content (default), prompt or response"),
          semantic: Optional[bool] = typer.Option(None, "--semantic/--no-semantic",
                                                  help="Embedding (SemDeDup) dedup (default off)."),
          semantic_threshold: Optional[float] = typer.Option(None, "--semantic-threshold", help="Cosine (0.95)."),
          embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder for --semantic."),
          filters: bool = typer.Option(False, "--filters/--no-filters", help="Also apply the heuristic filters."),
          lang: Optional[str] = typer.Option(None, "--lang", help="Keep only these languages (e.g. en,de); implies --filters."),
          decontaminate: Optional[List[Path]] = typer.Option(None, "--decontaminate", help="Eval file to decontaminate against (repeatable)."),
          force: bool = typer.Option(False, "--force", help="Replace an existing output folder.")) -> None:
    """Remove duplicates (and, optionally, contaminated or broken rows) without scoring: keeps the first."""
    from sft_select.config.schema import deep_merge, load_config

    o = dedup_overrides(exact=exact, near=near, near_threshold=near_threshold, ngram=ngram, num_perm=num_perm,
                        field=field, semantic=semantic, semantic_threshold=semantic_threshold,
                        filters=filters or bool(lang), lang=lang, decontaminate=decontaminate)
    if fmt:
        o["input"] = {"format": fmt}
    if on_error:
        o = deep_merge(o, {"input": {"on_error": on_error}})
    if embedder:
        o["embedding"] = {"model": embedder}
    run_dedup(inputs, out, load_config(config, o), force=force)
