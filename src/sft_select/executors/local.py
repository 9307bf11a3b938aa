"""The local executor: runs a batch function over examples in this process, with a progress bar.

Executors know nothing about views; a view knows nothing about executors. The Ray executor maps the
same batch function with `map_batches` on a cluster.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from sft_select.progress import progress_bar

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    name = "local"

    def map_batches(self, fn: Callable[[Sequence[T]], R], items: Sequence[T], *, batch_size: int,
                    desc: str = "") -> list[R]:
        """`fn` applied to consecutive batches of `items`, results in order."""
        out: list[R] = []
        with progress_bar(desc, total=len(items)) as advance:
            for start in range(0, len(items), max(1, batch_size)):
                batch = items[start:start + batch_size]
                out.append(fn(batch))
                advance(len(batch))
        return out
