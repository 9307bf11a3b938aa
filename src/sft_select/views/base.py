"""The view contract: an estimator that is fit on the pool (and target) and scores batches of examples.

A new view is one class with one method, `score_batch`. The constructor is keyword-only and only stores
its arguments (so `get_params` can read them back and a cache key can name the non-default ones); learned
state set by `fit` ends in `_`. Batching, progress, timing and caching belong to the driver in
`sft_select.scoring.driver`, and executors call `score_batch` without knowing which view it is.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from sft_select.core.record import Example

GROUPS = ("relevance", "diversity", "difficulty", "quality")


RESERVED_EXTRA = frozenset({"raw", "reason", "contrib"})  # suffixes the score table already uses


@dataclass
class ViewResult:
    """One raw value per example (higher or lower is better as the view declares) and optional reasons.

    `extra` holds further per-example columns a later step reads (a cluster id, an issue flag); the score
    table stores each as `<view>_<key>`. They are kept as data, never folded into the score.
    """

    raw: np.ndarray
    reasons: list[str | None] | None = None
    extra: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.raw = np.asarray(self.raw, dtype=np.float64)
        if self.raw.ndim != 1:
            raise ValueError("a view must return one value per example")
        if self.reasons is not None and len(self.reasons) != len(self.raw):
            raise ValueError("reasons must match the values one to one")
        if self.extra is not None:
            self.extra = {k: np.asarray(v) for k, v in self.extra.items()}
            for key, values in self.extra.items():
                if key in RESERVED_EXTRA or not key.isidentifier():
                    raise ValueError(f"extra column name {key!r} is reserved or not an identifier")
                if values.shape != self.raw.shape:
                    raise ValueError(f"extra column {key!r} must have one value per example")


def data_kind(pool: Sequence[Example]) -> str:
    """'labelled' when any example has a label, else 'instruction'."""
    return "labelled" if any(ex.label is not None for ex in pool) else "instruction"


class View:
    """Base class of every scorer. Subclasses set the class attributes and implement `score_batch`."""

    name: ClassVar[str]  # the scores.parquet column, e.g. "relevance_embedding"
    group: ClassVar[str]  # one of GROUPS; `--views quality` picks every quality scorer
    version: ClassVar[str] = "1"  # bump when scores change for the same parameters: it is in the cache key
    higher_is_better: ClassVar[bool] = True  # the normalizer flips views where low raw values are good
    needs: ClassVar[frozenset[str]] = frozenset()  # of "target", "labels", "instruction"
    cpu_fast: ClassVar[bool] = True  # default-on without a GPU; LM views set False
    default_on: ClassVar[bool] = True  # False: runs only when named (it needs a file the user provides)
    # The kinds of data ("labelled": text/label rows; "instruction": prompt/response turns) a default run
    # scores with this view; on other data it runs only when named (`default_skip_reason`).
    default_data: ClassVar[frozenset[str]] = frozenset({"labelled", "instruction"})
    default_batch_size: ClassVar[int] = 1024
    # False for views that never ask for embeddings: on the local engine they are scored while a worker
    # embeds the pool for the others (sft_select.scoring.with_embeddings). True (the safe default) otherwise.
    reads_embeddings: ClassVar[bool] = True
    # For the shared conformance test (tests/views/test_conformance.py): parameters that make the view
    # runnable on small generated data, or, for a view that cannot run there at all (it needs a model
    # file), the reason it is skipped and where its contract is tested instead.
    conformance_params: ClassVar[dict[str, Any]] = {}
    conformance_skip: ClassVar[str | None] = None

    # -- estimator contract -------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> "View":
        unknown = set(params) - set(self.param_names())
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {sorted(unknown)}")
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def non_default_params(self) -> dict[str, Any]:
        defaults = self.param_defaults()
        return {k: v for k, v in self.get_params().items() if defaults.get(k, inspect.Parameter.empty) != v}

    def model_files(self) -> list[Path]:
        """Files the view reads its model from (a user's trained model): their bytes are part of the cache
        key, so retraining a model in place is never answered with the old model's cached scores."""
        return []

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "View":
        """Learn whatever the view needs from the pool and target; the default learns nothing."""
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- applicability ----------------------------------------------------------------------------
    def skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        """Why this view cannot run on this data (it is then skipped, never faked), or None."""
        if "target" in self.needs and not target:
            return f"{self.name} needs a target set (--target FILE)"
        if "labels" in self.needs and not any(ex.label is not None for ex in pool):
            return f"{self.name} needs labelled data (text/label rows)"
        if "instruction" in self.needs and not any(ex.turns for ex in pool):
            return f"{self.name} needs instruction data (prompt/response turns)"
        return None

    def default_skip_reason(self, pool: Sequence[Example], target: Sequence[Example] | None) -> str | None:
        """`skip_reason`, and for a view the user did not name, also why it is not a default on this data."""
        why = self.skip_reason(pool, target)
        if why is None:
            kind = data_kind(pool)
            if kind not in self.default_data:
                why = f"{self.name} is not a default view for {kind} data (name it with --views to use it)"
        return why

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.non_default_params().items())
        return f"{type(self).__name__}({args})"
