"""`select.strategy: auto` (the default): the strategy the evidence finds robust for the data in front of it.

- Labelled data (text/label rows): `stratified`: a seeded random sample within class × diversity cluster, with the
  rows a view flagged as a likely label error (quality_label's cleanlab flag) left out. Measured on the dev seed
  (seed 0 of bench/default_command.py's 20news with 20% flipped labels and imdb): dropping the flagged rows is
  what gains (20news: +2.7 / +3.8 points over random for the two linear eval models), and what the coverage
  strategy adds to it (facility location within the class, the lowest 30% trimmed) loses, most on a cleaner pool
  (imdb: -3.1 / -2.0 points against random, where stratified is level with it). Top-N by the combined score
  kept flagged rows (26 of the 82 human-confirmed errors of 20news at N=3000), and margin sampling prefers the
  mislabelled.
- Any data with a target (`--target`: relevance views in the table): `top`, the combined score's order (flagged
  rows left out), so off-topic clusters and classes may stay empty, as asked.
- Instruction data without a target: `coverage` by diversity cluster with no trim, so every cluster gets its
  share of S (top-N left 9 of 39 k-means clusters of Dolly, 42% of the pool, without a row); rows a view
  flagged (quality_heuristic: refusal, cut answer, echo) are left out.

A setting the user gave (`quota_by`, `coverage.trim`) is kept; only the defaults are filled in.
"""
from __future__ import annotations

import pandas as pd

from sft_select.selection.config import SelectConfig

# The strategies auto may resolve to (what it needs is what they need).
CHOICES = ("top", "stratified", "coverage")


def is_labelled(table: pd.DataFrame) -> bool:
    return "label" in table and bool(table["label"].notna().any())


def has_relevance(table: pd.DataFrame) -> bool:
    return any(c.startswith("relevance_") and c.endswith("_raw") for c in table.columns)


def resolve_auto(cfg: SelectConfig, table: pd.DataFrame) -> SelectConfig:
    """`cfg` with `strategy: auto` replaced by the concrete strategy for this table (other strategies as is)."""
    if cfg.strategy != "auto":
        return cfg

    def given(path: str) -> bool:
        section, _, field = path.rpartition(".")
        return field in (getattr(cfg, section) if section else cfg).model_fields_set

    def fill(strategy: str, defaults: dict | None = None) -> SelectConfig:
        return cfg.with_settings({"strategy": strategy, **{k: v for k, v in (defaults or {}).items() if not given(k)}})

    if has_relevance(table):
        return fill("top")
    if is_labelled(table):
        return fill("stratified")
    if "diversity_cluster" not in table:
        return fill("top")
    return fill("coverage", {"quota_by": "cluster", "coverage.trim": 0.0})
