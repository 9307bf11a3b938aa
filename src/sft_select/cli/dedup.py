"""`sft-select dedup`: its flags as config overrides over `sft_select.pipelines.dedup.run_dedup`, which
describes what it writes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from sft_select.pipelines.dedup import run_dedup


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
          fmt: Optional[str] = typer.Option(None, "--format",
                                            help="alpaca | sharegpt | openai | prompt_completion | text_label"),
          on_error: Optional[str] = typer.Option(None, "--on-error", help="fail (default) or skip bad rows"),
          split: Optional[str] = typer.Option(None, "--split", help="The split to read from a DatasetDict folder "
                                              "or a Hub dataset (default: train)."),
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
          lang: Optional[str] = typer.Option(None, "--lang",
                                             help="Keep only these languages (e.g. en,de); implies --filters."),
          decontaminate: Optional[List[Path]] = typer.Option(None, "--decontaminate",
                                                             help="Eval file to decontaminate against (repeatable)."),
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
    if split:
        o = deep_merge(o, {"input": {"split": split}})
    if embedder:
        o["embedding"] = {"model": embedder}
    run_dedup(inputs, out, load_config(config, o), force=force)
