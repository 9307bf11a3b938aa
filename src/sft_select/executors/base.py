"""The Executor contract: what the pipeline asks of an engine, and the capabilities it may check.

Steps call these methods and read the flags below; they never ask an executor for its name. An engine is
a class with these members (typing.Protocol: no base class to inherit), checked by the executor
conformance tests (tests/executors) so that every engine gives the same answers, bit for bit.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Executor(Protocol):
    name: str  # for messages and the manifest only
    # Batch functions run in this process or in forks of it, so what they leave in process memory (the
    # embedding store, near dedup's word hashes) is there for the steps after them.
    shares_memory: bool
    # Batch functions run in other processes that outlive a step (Ray actors, other machines): work the
    # driver does alone (the global greedy) does not spread over them.
    remote_workers: bool

    def map_batches(self, fn: Callable[[Sequence[Any]], dict[str, np.ndarray]], items: Sequence[Any], *,
                    batch_size: int, desc: str = "", gpu: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """`fn` over consecutive batches of `items`, its columns yielded in input order."""

    def first_of_equal(self, keys: np.ndarray) -> np.ndarray:
        """For each row, the first row with the same key (exact dedup)."""

    def band_pairs(self, band_keys: np.ndarray) -> np.ndarray:
        """Candidate pairs of rows sharing an LSH band key (near dedup)."""

    def top_k(self, scores: np.ndarray, k: int | None = None, *, ids: np.ndarray | None = None,
              threshold: float | None = None) -> np.ndarray:
        """Rows with a score (>= threshold) by descending score, ties by id then row, the first k."""

    def apply_by_group(self, fn: Callable[[dict[str, np.ndarray], Any], dict[str, np.ndarray]], groups: np.ndarray,
                       columns: Mapping[str, np.ndarray], shared: Any = None) -> dict[str, np.ndarray]:
        """`fn(columns of one group, shared)` on each group, the results put back in row order."""
