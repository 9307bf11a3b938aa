"""The proxy contract: what every proxy returns, and the two members the tune loop calls.

A proxy measures f(S): it is trained on a subset S and scored on the validation file, higher is better.
The factory that picks one from the config is in proxy.py; this module imports nothing of evaluate, so a
proxy module and the factory both import it without a cycle.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence

import numpy as np

from sft_select.core.record import Example


@dataclass
class ProxyScore:
    """f(S) (`value`, higher is better) and the metrics it came from."""

    value: float
    metrics: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    seconds: float = 0.0
    # One outcome per validation row whose mean is `value` (accuracy: 1/0 per row; coverage: the row's
    # similarity), when the proxy has them: the guard's paired bootstrap compares subsets row by row.
    per_row: "np.ndarray | None" = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "per_row"}


class Proxy(Protocol):
    name: str
    metric: str  # what `value` is, e.g. "accuracy" or "-loss"

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore: ...

    def describe(self) -> dict: ...
