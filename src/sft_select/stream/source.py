"""The inputs as a stream of identified examples, a chunk at a time.

Ids are the ones `sft_select.io.load.load` gives (content hash, the k-th repeat suffixed `~k`), kept
consistent across chunks by remembering each hash's count: that dict is the only per-row state that
grows with the pool (~150 bytes a row).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from sft_select.errors import InputError
from sft_select.io.load import Rejected, iter_file, set_id
from sft_select.record import Example, content_hash, join_texts


@dataclass
class Stream:
    """How to read the pool, and what the last full read found besides examples."""

    paths: Sequence[str | Path]
    fmt: str | None = None
    fields: dict | None = None
    on_error: str = "fail"
    formats: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)

    def examples(self) -> Iterator[Example]:
        """Every example with its id, in reading order; unreadable rows go to `rejected` (reset per read)."""
        self.rejected = []
        seen: dict[str, int] = {}
        kind = None
        for path in self.paths:
            for item in iter_file(path, fmt=self.fmt, fields=self.fields, on_error=self.on_error,
                                  formats=self.formats):
                if isinstance(item, Rejected):
                    self.rejected.append(item)
                    continue
                if kind is None:
                    kind = item.kind
                elif item.kind != kind:
                    raise InputError(", ".join(map(str, self.paths)), "inputs mix labelled text and "
                                     "instruction data; select them in separate runs")
                h = content_hash(item.turns, item.text, item.label)
                k = seen.get(h, 0)
                seen[h] = k + 1
                set_id(item, h if k == 0 else f"{h}~{k}")  # in place: a fresh example nothing else holds
                yield item

    def chunks(self, size: int) -> Iterator[list[Example]]:
        chunk: list[Example] = []
        for ex in self.examples():
            chunk.append(ex)
            if len(chunk) >= size:
                join_texts(chunk)
                yield chunk
                chunk = []
        if chunk:
            join_texts(chunk)
            yield chunk

    def sample(self, size: int, seed: int) -> tuple[list[Example], int]:
        """A seeded uniform sample of `size` examples (reservoir sampling, kept in reading order) and the
        pool size. The views are fit on it: the whole pool when it is no larger than `size`."""
        rng = random.Random(seed)
        kept: list[tuple[int, Example]] = []
        n = 0
        for n, ex in enumerate(self.examples(), start=1):
            if len(kept) < size:
                kept.append((n - 1, ex))
            else:
                j = rng.randrange(n)
                if j < size:
                    kept[j] = (n - 1, ex)
        kept.sort(key=lambda pair: pair[0])
        sample = [ex for _, ex in kept]
        join_texts(sample)
        return sample, n
