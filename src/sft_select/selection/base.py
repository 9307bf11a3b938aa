"""What every strategy shares: the candidates, the size limits, and the walk that applies them.

A strategy only decides the order in which candidates are offered and which ones it refuses for its own
reason (too similar, quota full); `Walk` applies N, the token budget and the reasons for everything
else, so `n`, `fraction`, `threshold` and `budget_tokens` mean the same thing under every strategy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.models.embed.embedders import DEFAULT_MODEL, embed_examples
from sft_select.selection.config import SelectConfig


@dataclass
class Selection:
    keep: np.ndarray
    reasons: list[str | None]


@dataclass
class Context:
    """What a strategy may need beyond the table: the examples by id (text, embeddings, tokens)."""

    examples: Mapping[str, Example] | None = None
    embedder: str = DEFAULT_MODEL
    _cache: dict = field(default_factory=dict, repr=False)
    executor: Any = None  # runs the global steps (ranking, per-cluster greedy); None: local, in this process

    @classmethod
    def of(cls, examples: Sequence[Example] | None, embedder: str = DEFAULT_MODEL, executor: Any = None) -> "Context":
        return cls({ex.id: ex for ex in examples} if examples is not None else None, embedder, executor=executor)

    def examples_for(self, ids: Sequence[str], why: str) -> list[Example]:
        if self.examples is None:
            raise ConfigError(f"select: {why} needs the examples themselves, not only their scores")
        missing = [i for i in ids if i not in self.examples]
        if missing:
            raise ConfigError(f"select: {len(missing)} scored id(s) have no example (first: {missing[0]}); "
                              "the input changed since scoring")
        return [self.examples[i] for i in ids]

    def embeddings(self, ids: Sequence[str], why: str) -> np.ndarray:
        """L2-normalized embeddings, shape (len(ids), dim); memoized by example id (models/embed/embedders.py)."""
        return embed_examples(self.examples_for(ids, why), self.embedder)

    def tokens(self, ids: Sequence[str], tokenizer: str) -> np.ndarray:
        from sft_select.selection.budget import token_counts

        return token_counts(self.examples_for(ids, "budget_tokens"), tokenizer)


@dataclass(frozen=True)
class Strategy:
    """One registered strategy: its function, and what the pipeline must know about it before it runs.

    `reads_embeddings`: it asks `Context.embeddings` for the pool's embeddings, so a streaming run keeps them
    while it scores the chunks (otherwise it drops them and the selection fails only after the whole pass).
    `tunable`: the `select` settings the tune loop may choose for it (tune/params.py).
    """

    select: Callable[..., Selection]
    reads_embeddings: bool = False
    tunable: tuple[str, ...] = ()


def size_limit(cfg: SelectConfig, n_candidates: int) -> int | None:
    if cfg.n is not None:
        return min(cfg.n, n_candidates)
    if cfg.fraction is not None:
        return max(1, int(round(cfg.fraction * n_candidates))) if n_candidates else 0
    return None


def ranked(table: pd.DataFrame, executor: Any = None) -> np.ndarray:
    """Candidate row positions in descending combined score, ties by id; with an `executor`, ranked by
    its `top_k` (on the Ray engine a distributed sort), in the same order."""
    if executor is not None:
        cand = (table["reason"].isna() & table["score"].notna()).to_numpy()
        scores = np.where(cand, table["score"].to_numpy(dtype=float, na_value=np.nan), np.nan)
        return executor.top_k(scores, ids=table["id"].to_numpy())
    cand = table.index[table["reason"].isna() & table["score"].notna()]
    sub = table.loc[cand, ["score", "id"]]
    order = sub.sort_values(["score", "id"], ascending=[False, True], kind="mergesort").index
    return table.index.get_indexer(order)


class Walk:
    """Offer candidates in a strategy's order; keeps what fits N and the token budget, and says why not.

    Built from the table, it applies the threshold at once: candidates below τ get their reason and are
    left out of `order` (the candidates above τ, best score first) before the strategy sees them.
    """

    def __init__(self, table: pd.DataFrame, cfg: SelectConfig, ctx: Context | None):
        if not cfg.has_size():
            raise ConfigError("select: give a size (-n, --fraction, budget_tokens) or a threshold (--threshold)")
        self.table, self.cfg = table, cfg
        self.keep = np.zeros(len(table), dtype=bool)
        self.reasons: list[str | None] = list(table["reason"])
        self.scores = table["score"].to_numpy(dtype=float)
        everyone = ranked(table, getattr(ctx, "executor", None))  # a duck-typed context may have none
        self.size = size_limit(cfg, len(everyone))
        if cfg.threshold is not None:
            below = self.scores[everyone] < cfg.threshold
            for pos in everyone[below]:
                self.reasons[pos] = f"below_threshold: score {self.scores[pos]:.3f} < τ={cfg.threshold}"
            everyone = everyone[~below]
        self.order = everyone
        self.taken = 0
        self.used_tokens = 0
        self.tokens: np.ndarray | None = None
        if cfg.budget_tokens is not None:
            ctx = ctx or Context()
            self.tokens = np.zeros(len(table), dtype=np.int64)
            ids = table["id"].to_numpy()[everyone].tolist()
            self.tokens[everyone] = ctx.tokens(ids, cfg.tokenizer)

    @property
    def full(self) -> bool:
        return self.size is not None and self.taken >= self.size

    def offer(self, pos: int, rank: int) -> bool:
        """Keep `pos` if N and the budget allow; `rank` is its 0-based place in the strategy's order."""
        if self.full:
            self.reasons[pos] = f"not_selected: rank {rank + 1} > N={self.size}"
            return False
        if self.tokens is not None:
            need, left = int(self.tokens[pos]), self.cfg.budget_tokens - self.used_tokens
            if need > left:
                self.reasons[pos] = f"over_budget: {need} tokens, {left} left of {self.cfg.budget_tokens}"
                return False
            self.used_tokens += need
        self.keep[pos] = True
        self.taken += 1
        return True

    def refuse(self, pos: int, reason: str) -> None:
        self.reasons[pos] = reason

    def rest_not_selected(self, positions: Sequence[int], start_rank: int) -> None:
        """Once N is reached, everything not yet offered is simply not selected."""
        for k, pos in enumerate(positions):
            self.reasons[pos] = f"not_selected: rank {start_rank + k + 1} > N={self.size}"

    def result(self) -> Selection:
        return Selection(self.keep, self.reasons)
