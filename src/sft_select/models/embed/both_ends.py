"""Embedding a list of texts from both ends: one forked worker from the front while this process does
other work, then this process from the back once it is free, until the two meet.

Why: `scoring.with_embeddings` scores the text-only views in this process while one worker embeds the
pool. The views were done before the embedding, and this process waited for it on an idle core
(docs/benchmarks.md, Scale / Session 7). Taking batches from the back, it shares what is left instead.

No lock: each side writes only its own end (the worker `front`, this process `back`) into a shared array
and stops once its end has reached the other's. A race can make both sides encode the same rows, which
then get the same vector twice (the static encoder gives a text the same vector in any batch); it can
never leave a row out: the worker stops only at a `front` at or past a `back` it read, `back` only goes
down, and this process waits for the worker before anything reads the vectors.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from sft_select.executors import pool as parallel

FRONT, BACK = 0, 1


class BothEnds:
    """Rows `[0, n)` of `out` (shared memory) filled by `encode(texts)` batches from both ends."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], out: np.ndarray,
                 batch_size: int):
        self.encode, self.texts, self.out, self.batch_size = encode, texts, out, batch_size
        self.ends = parallel.shared_array((2,), np.int64)
        self.ends[BACK] = len(texts)

    def from_front(self, done: Callable[[int], None] | None = None) -> int:
        """The worker's side: batches from row 0 up; returns where it stopped (rows [0, stop) are done).
        `done(stop)` after each batch (the worker saves its rows to the disk cache as it goes)."""
        start = 0
        while True:
            back = int(self.ends[BACK])
            if start >= back:
                return start
            stop = min(start + self.batch_size, back)
            self.ends[FRONT] = stop  # published before encoding, so the other side does not take these
            self.out[start:stop] = self.encode(self.texts[start:stop])
            if done is not None:
                done(stop)
            start = stop

    def from_back(self) -> int:
        """This process's side: batches from the last row down; returns where it stopped (rows [stop, n)
        are done here; the rest is the worker's, so wait for it before reading them)."""
        stop = int(self.ends[BACK])
        while True:
            front = int(self.ends[FRONT])
            if stop <= front:
                return stop
            start = max(front, stop - self.batch_size)
            self.ends[BACK] = start
            self.out[start:stop] = self.encode(self.texts[start:stop])
            stop = start
