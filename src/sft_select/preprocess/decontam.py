"""Decontamination: drop pool examples that share a long word n-gram with an evaluation file.

As in GPT-3's decontamination, a 13-word n-gram in common is taken as a leak (the size is configurable).
Evaluation items shorter than n words but at least `min_words` long are matched as a whole: the pool is
also shingled at each such length. Shorter items cannot be checked and are counted in the step's stats.

Evaluation files are read without a schema: every string anywhere in a row (question, answer, choices,
messages…) is evaluation text. JSONL, JSON, CSV, Parquet (optionally .gz) and plain text (.txt: one item
per non-blank line) are accepted.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from sft_select.core.errors import InputError
from sft_select.preprocess.config import DecontamConfig
from sft_select.preprocess.shingles import Shingles, ngrams, word_hashes


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


_EVAL_SUFFIXES = (".txt", ".jsonl", ".ndjson", ".json", ".csv", ".parquet")


def check_eval_files(files: Sequence[str | Path]) -> None:
    """Refuse evaluation files that cannot be read, before the run directory is made: a folder, a missing
    file, a FIFO, an unknown suffix. (Found only when decontamination ran, they left an empty run behind.)"""
    from sft_select.io.readers import check_input, file_type

    for f in files:
        path = Path(f)
        try:
            check_input(path)
        except InputError as exc:
            raise InputError(path, f"decontamination {exc.detail}" if exc.detail == "file not found"
                             else exc.detail) from None
        if path.is_dir():  # a datasets save_to_disk folder is read as inputs are; any other is refused
            try:
                file_type(path)
            except InputError as exc:
                why = exc.detail if "DatasetDict" in exc.detail else "a folder, not a saved dataset"
                raise InputError(path, f"{why}: --decontaminate takes an evaluation file (.jsonl, .json, .csv, "
                                       ".parquet or .txt, optionally .gz), once per file") from None
            continue
        name = path.name.lower().removesuffix(".gz")
        if not name.endswith(_EVAL_SUFFIXES):
            raise InputError(path, f"unknown evaluation file type '{Path(name).suffix or name}'; expected "
                                   ".jsonl, .json, .csv, .parquet or .txt (optionally .gz)")


def eval_texts(path: Path) -> list[str]:
    """Every string of every row of an evaluation file, one text per string."""
    check_eval_files([path])
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".txt"):
        try:
            opener = gzip.open if path.name.lower().endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                return [line.strip() for line in fh if line.strip()]
        except OSError as exc:
            raise InputError(path, f"cannot read the file: {exc}") from None
    from sft_select.io.readers import read_rows, row_error

    texts: list[str] = []
    for raw in read_rows(path):
        if raw.data is None:
            raise row_error(path, raw.error or "unreadable row", raw)
        texts.extend(_strings(raw.data))
    return texts


@dataclass
class EvalNgrams:
    """Hashes of every evaluation n-gram (length `ngram`), and of whole short items by their length."""

    name: str
    full: np.ndarray
    short: dict[int, np.ndarray] = field(default_factory=dict)
    items: int = 0
    unchecked: int = 0  # items too short to be matched at all


def eval_ngrams(path: Path, cfg: DecontamConfig) -> EvalNgrams:
    texts = eval_texts(path)
    words = word_hashes(texts)
    out = EvalNgrams(path.name, np.unique(ngrams(words, cfg.ngram, short="skip").hashes), items=len(texts))
    for length in range(cfg.min_words, cfg.ngram):
        rows = np.flatnonzero(words.counts == length)
        if len(rows):
            # An item of exactly `length` words has one n-gram of that length: itself.
            out.short[length] = np.unique(ngrams(words, length, short="skip").subset(rows).hashes)
    out.unchecked = int(np.count_nonzero(words.counts < cfg.min_words))
    return out


def _hits(sh: Shingles, table: np.ndarray) -> np.ndarray:
    """Per document: does any of its shingles occur in `table` (sorted)."""
    if len(table) == 0 or len(sh.hashes) == 0:
        return np.zeros(len(sh.counts), dtype=bool)
    found = np.isin(sh.hashes, table, assume_unique=False)
    doc = np.repeat(np.arange(len(sh.counts)), sh.counts)
    return np.bincount(doc[found], minlength=len(sh.counts)) > 0


def contaminated(texts: Sequence[str], evals: Sequence[EvalNgrams], cfg: DecontamConfig) -> list[str | None]:
    """Per pool text: the name of the first evaluation file it shares an n-gram with, or None."""
    out: list[str | None] = [None] * len(texts)
    if not evals or not texts:
        return out
    words = word_hashes(texts)  # hashed once, shingled at every length needed
    pool_full = ngrams(words, cfg.ngram, short="skip")
    lengths = sorted({n for e in evals for n in e.short})
    pool_short = {n: ngrams(words, n, short="skip") for n in lengths}
    for ev in evals:
        hit = _hits(pool_full, ev.full)
        for n, table in ev.short.items():
            hit |= _hits(pool_short[n], table)
        for i in np.flatnonzero(hit):
            if out[i] is None:
                out[i] = ev.name
    return out


def decontaminate(texts: Sequence[str], files: Sequence[Path], cfg: DecontamConfig) -> tuple[list[str | None], dict]:
    """Reasons (`decontaminated: <file>`) per pool text, and stats for the manifest."""
    evals = [eval_ngrams(Path(f), cfg) for f in files]
    names = contaminated(texts, evals, cfg)
    stats = {"files": {e.name: {"items": e.items, "too_short_to_check": e.unchecked,
                                "dropped": sum(1 for n in names if n == e.name)} for e in evals}}
    return [f"decontaminated: {n}" if n else None for n in names], stats
