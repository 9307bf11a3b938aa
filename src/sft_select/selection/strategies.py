"""Selection strategies by name. Each takes the score table and returns a keep mask plus a reason per row.

Only rows still in the pool (no preprocessing `reason`) are candidates. Ties are broken by id and any
randomness comes from the seed, so a selection is deterministic for the same scores, config and seed.
A strategy that reads the examples (embeddings, tokens) gets them through the `Context`.

Adding a strategy: a module in this folder with a `select_<name>(table, cfg, seed, ctx) -> Selection` and a
`STRATEGY = Strategy(select_<name>, ...)` that says what it reads, plus one line in `REGISTRY` below
(the config checks `select.strategy` against it).
"""
from __future__ import annotations

import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.core.progress import info
from sft_select.selection import active, coverage, facility, greedy, quotas, stratified, top, uniform
from sft_select.selection.auto import CHOICES as AUTO_CHOICES
from sft_select.selection.auto import resolve_auto
from sft_select.selection.base import Context, Selection, Strategy, ranked, size_limit
from sft_select.selection.config import SelectConfig
from sft_select.selection.top import select_top
from sft_select.selection.uniform import select_random

REGISTRY: dict[str, Strategy] = {
    "top": top.STRATEGY,
    "random": uniform.STRATEGY,
    "quota": quotas.STRATEGY,
    "greedy": greedy.STRATEGY,
    "facility": facility.STRATEGY,
    "coverage": coverage.STRATEGY,
    "active": active.STRATEGY,
    "stratified": stratified.STRATEGY,
}

# Name -> function, for callers that only run a strategy.
STRATEGIES = {name: s.select for name, s in REGISTRY.items()}

# Each strategy's settings the tune loop may choose (tune/params.py); a strategy not listed has none.
TUNABLE: dict[str, tuple[str, ...]] = {name: s.tunable for name, s in REGISTRY.items() if s.tunable}


def needs_embeddings(name: str) -> bool:
    """Whether strategy `name` reads the pool's embeddings (`auto`: whether any strategy it may pick does)."""
    if name == "auto":
        return any(REGISTRY[c].reads_embeddings for c in AUTO_CHOICES)
    return name in REGISTRY and REGISTRY[name].reads_embeddings


def select(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    cfg = resolve_auto(cfg, table)
    # greedy.scope: cluster runs the greedy per diversity cluster on the executor; global is one sequential
    # walk, which stays in this process whatever the engine (so do random, quota and facility).
    if cfg.strategy == "greedy" and cfg.greedy.scope == "cluster":
        from sft_select.selection.greedy_cluster import select_greedy_clusters

        return select_greedy_clusters(table, cfg, seed, ctx)
    if cfg.strategy == "greedy" and getattr(ctx.executor, "remote_workers", False):
        info("select: the global greedy runs on the driver; set select.greedy.scope: cluster to run it per "
             "diversity cluster on the cluster")
    if cfg.strategy not in REGISTRY:  # a SelectConfig built without Config's check of the name
        raise ConfigError(f"select.strategy: unknown '{cfg.strategy}'; choose from {['auto', *sorted(REGISTRY)]}")
    return REGISTRY[cfg.strategy].select(table, cfg, seed, ctx)


__all__ = ["REGISTRY", "STRATEGIES", "TUNABLE", "Context", "Selection", "Strategy", "needs_embeddings", "select",
           "select_top", "select_random", "ranked", "size_limit"]
