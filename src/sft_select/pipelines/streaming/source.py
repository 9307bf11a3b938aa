"""The inputs as a stream of identified examples, a chunk at a time.

Ids are the ones `sft_select.io.load.load` gives (content hash, the k-th repeat suffixed `~k`), kept
consistent across chunks by remembering each hash's count. That dict (~150 bytes a row) and, for plain
JSONL inputs, the rows' byte offsets (16 bytes a row) are the per-row state that grows with the pool.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from sft_select.core.errors import InputError
from sft_select.core.record import Example, assign_ids, content_hash, join_texts
from sft_select.executors import pool as parallel
from sft_select.io.load import Rejected, content_hashes, iter_file, parse_rows, set_id
from sft_select.io.read_ahead import Job, ReadAhead
from sft_select.io.row_offsets import RowOffsets, row_offsets, rows_at


@dataclass
class Stream:
    """How to read the pool, and what the last full read found besides examples."""

    paths: Sequence[str | Path]
    fmt: str | None = None
    fields: dict | None = None
    on_error: str = "fail"
    split: str = "train"  # read from a DatasetDict folder or a Hub dataset (io.readers.read_rows)
    formats: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    offsets: dict[str, RowOffsets] = field(default_factory=dict)  # by path, when `sample` scanned them

    def examples(self) -> Iterator[Example]:
        """Every example with its id, in reading order; unreadable rows go to `rejected` (reset per read)."""
        seen: dict[str, int] = {}
        for ex in self._parsed():
            set_id(ex, assign_ids([content_hash(ex.turns, ex.text, ex.label)], seen)[0])
            yield ex

    def _parsed(self) -> Iterator[Example]:
        """Every example without its id yet, in reading order; unreadable rows go to `rejected`."""
        self.rejected = []
        kind = None
        for path in self.paths:
            for item in iter_file(path, fmt=self.fmt, fields=self.fields, on_error=self.on_error,
                                  formats=self.formats, split=self.split):
                if isinstance(item, Rejected):
                    self.rejected.append(item)
                    continue
                if kind is None:
                    kind = item.kind
                elif item.kind != kind:
                    raise _mixed_kinds(self.paths)
                yield item

    def chunks(self, size: int) -> Iterator[list[Example]]:
        for chunk, _ in self.chunks_with(size, {}):
            yield chunk

    def chunks_with(self, size: int, alongside: dict[str, Job]) -> Iterator[tuple[list[Example], dict[str, list]]]:
        """Chunks of `size` examples with their ids, each with the `alongside` jobs' results by position in
        it. With worker processes on, the content hashes (the ids) and the jobs (the filters, the
        exact-dedup keys) run on the chunk's examples read so far while the rest of it is parsed
        (io/read_ahead.py), as a run held in memory loads its input; without, the hashes are computed
        here and the results are empty (the caller computes them)."""
        jobs = {"content_hash": content_hashes, **alongside} if parallel.active() > 1 else {}
        seen: dict[str, int] = {}  # the ids' repeat counts, over the whole read
        chunk: list[Example] = []
        ahead = None
        try:
            for ex in self._parsed():
                chunk.append(ex)
                if ahead is None and jobs:
                    ahead = ReadAhead(jobs, every=parallel.min_items())
                if ahead is not None:
                    ahead.feed(chunk)
                if len(chunk) >= size:
                    done, chunk, ahead = _identified(chunk, ahead, seen), [], None
                    yield done
            if chunk:
                done, ahead = _identified(chunk, ahead, seen), None
                yield done
        except BaseException:  # a bad row, or the caller stopped: no worker is left behind
            if ahead is not None:
                ahead.cancel()
            raise

    def sample(self, size: int, seed: int) -> tuple[list[Example], int]:
        """A seeded uniform sample of `size` examples, in reading order, and the pool size. The views are
        fit on it: the whole pool when it is no larger than `size`.

        Plain JSONL inputs are sampled by row: one scan finds where each row starts (`offsets`, kept for
        the output pass), `size` rows are drawn and only those are parsed; the pool size is then the
        number of rows, unreadable ones included, and a drawn row that is unreadable or invalid is left
        out of the sample. Ids get their `~k` repeat suffix within the sample (the pass's ids count
        repeats over the whole pool): a view that keeps per-id results from the fit (the label proxy's
        out-of-fold predictions) may then give a repeat the result of an identical example. Other inputs
        are read whole, with reservoir sampling."""
        self.offsets = {}
        by_path = [row_offsets(p) for p in self.paths]
        total = sum(len(o) for o in by_path if o is not None)
        if None in by_path or total <= size:
            return self._reservoir(size, seed)
        self.offsets = {str(o.path): o for o in by_path}
        drawn = np.sort(np.asarray(random.Random(seed).sample(range(total), size), dtype=np.int64))
        bounds = np.cumsum([0] + [len(o) for o in by_path])
        sample: list[Example] = []
        for k, (path, offsets) in enumerate(zip(self.paths, by_path)):
            rows = drawn[(drawn >= bounds[k]) & (drawn < bounds[k + 1])] - bounds[k]
            fmt = self.fmt or self._first_format(path)
            for item in parse_rows(rows_at(offsets, rows.tolist()), path, fmt=fmt, fields=self.fields,
                                   on_error=self.on_error):
                if isinstance(item, Example):
                    sample.append(item)
        if not sample:  # every drawn row unusable: the reservoir finds the usable ones, if any
            return self._reservoir(size, seed)
        if len({ex.kind for ex in sample}) > 1:
            raise _mixed_kinds(self.paths)
        for ex, id_ in zip(sample, assign_ids(content_hashes(sample))):
            set_id(ex, id_)
        join_texts(sample)
        return sample, total

    def _first_format(self, path: str | Path) -> str | None:
        """The format detected from the file's first readable row, as a whole read detects it."""
        found: dict[str, str] = {}
        for item in iter_file(path, fmt=None, fields=self.fields, on_error=self.on_error, formats=found,
                              split=self.split):
            if isinstance(item, Example):
                break
        return found.get(str(path))

    def _reservoir(self, size: int, seed: int) -> tuple[list[Example], int]:
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


def _mixed_kinds(paths: Sequence[str | Path]) -> InputError:
    return InputError(", ".join(map(str, paths)), "inputs mix labelled text and instruction data; "
                      "select them in separate runs")


def _identified(chunk: list[Example], ahead: ReadAhead | None, seen: dict[str, int]
                ) -> tuple[list[Example], dict[str, list]]:
    """The chunk with its ids and texts joined, and the read-ahead jobs' results (content hashes aside)."""
    results = ahead.finish() if ahead is not None else {}
    hashes = results.pop("content_hash", None)
    for ex, id_ in zip(chunk, assign_ids(hashes if hashes is not None else content_hashes(chunk), seen)):
        set_id(ex, id_)  # in place: fresh examples nothing else holds
    join_texts(chunk)
    return chunk, results
