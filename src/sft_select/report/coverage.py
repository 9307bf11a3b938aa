"""Coverage before and after selection: what the selection did to the data's mix.

Three populations: the pool as read, the candidates left after preprocessing (filters and dedup), and
the selection. Distributions compare pool and selection as shares, so a class or cluster the selection
starves is visible at a glance; totals list all three.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

TOKEN = re.compile(r"\w+|[^\w\s]")
TOKEN_METHOD = r"regex \w+|[^\w\s] over prompt and response (a word-piece estimate, not a model tokenizer)"
CLUSTER_COLUMNS = ("diversity_cluster",)


def cluster_column(table: pd.DataFrame) -> str | None:
    """The semantic cluster column a diversity view wrote, if any (`dup_cluster` is duplicates, not topics)."""
    for name in CLUSTER_COLUMNS:
        if name in table and table[name].notna().any():
            return name
    for name in table.columns:
        if name.endswith("_cluster") and name != "dup_cluster" and table[name].notna().any():
            return name
    return None


def distribution(values: pd.Series, selected: np.ndarray, *, top: int = 30,
                 weights: np.ndarray | None = None) -> dict[str, Any]:
    """Counts per category for the pool and the selection (largest `top` in the pool, the rest as 'other').

    `weights` turns a stratified sample into estimates of the full counts.
    """
    if weights is None:
        agg, n_categories = _counts_by_key(values, np.asarray(selected, dtype=bool))
    else:  # a 5,000-point sample: pandas' (compensated) weighted sums, as before
        w = np.asarray(weights, dtype=float)
        keys = values.astype(object).where(values.notna(), "(none)").astype(str).to_numpy()
        frame = pd.DataFrame({"k": keys, "w": w, "s": w * selected})
        agg = frame.groupby("k", sort=False)[["w", "s"]].sum()
        n_categories = int(frame["k"].nunique())
    agg = agg.sort_values("w", ascending=False)
    if len(agg) > top:
        head, tail = agg.iloc[:top], agg.iloc[top:]
        agg = pd.concat([head, pd.DataFrame({"w": [tail["w"].sum()], "s": [tail["s"].sum()]},
                                            index=[f"other ({len(tail)})"])])
    return {"categories": [str(k) for k in agg.index], "pool": [round(float(x), 2) for x in agg["w"]],
            "selected": [round(float(x), 2) for x in agg["s"]], "n_categories": n_categories}


def _counts_by_key(values: pd.Series, selected: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Rows and selected rows per category, keyed by str(value) ('(none)' for missing), in order of first
    appearance (as groupby(sort=False) gives them): the values are factorized in C and only the distinct
    ones become strings, instead of str() of 100k cells and a string groupby."""
    n = len(values)
    codes, uniq = pd.factorize(values)
    names = [str(u) for u in pd.Index(uniq).astype(object)] + ["(none)"]
    codes = np.where(codes < 0, len(uniq), codes)
    name_codes, name_uniq = pd.factorize(np.array(names, dtype=object))  # distinct values, same string
    codes = name_codes[codes]
    first = np.full(len(name_uniq), n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    groups = np.flatnonzero(first < n)
    groups = groups[np.argsort(first[groups], kind="stable")]
    total = np.bincount(codes, minlength=len(name_uniq)).astype(float)
    chosen = np.bincount(codes[selected], minlength=len(name_uniq)).astype(float)
    return (pd.DataFrame({"w": total[groups], "s": chosen[groups]}, index=[str(name_uniq[g]) for g in groups]),
            len(groups))


def length_histogram(chars: np.ndarray, selected: np.ndarray, bins: int = 30) -> dict[str, Any]:
    """Shares per log-spaced length bin (lengths are heavy-tailed); the last bin takes the top 0.5%."""
    chars = np.asarray(chars, dtype=float)
    if chars.size == 0:
        return {"edges": [], "pool": [], "selected": []}
    lo = max(1.0, float(chars.min()))
    hi = max(lo * 1.01, float(np.quantile(chars, 0.995)))
    edges = np.unique(np.round(np.geomspace(lo, hi, bins + 1)))
    clipped = np.clip(chars, edges[0], edges[-1])
    pool, _ = np.histogram(clipped, bins=edges)
    sel, _ = np.histogram(clipped[selected], bins=edges)
    return {"edges": edges.tolist(), "pool": pool.tolist(), "selected": sel.tolist()}


# For ASCII text the TOKEN regex's count is the number of word runs ([A-Za-z0-9_]+) plus the number of
# other non-space characters; both come from bytes.translate in C, much faster than the regex.
_ASCII_WORD = bytes(b if (chr(b).isalnum() or chr(b) == "_") else 32 for b in range(128)) + b" " * 128
_ASCII_WORD_OR_SPACE = bytes(b for b in range(128) if chr(b).isalnum() or chr(b) == "_" or chr(b).isspace())
# The same split as one byte code per ASCII character: 0 space (as str.isspace, so \x1c-\x1f too), 1 word
# character, 2 other (a token of its own); bytes >= 128 never reach it.
_KIND = bytes(0 if chr(b).isspace() else 1 if chr(b).isalnum() or chr(b) == "_" else 2 for b in range(128)) \
    + bytes(128)
_CHUNK_CHARS = 1 << 20  # characters per numpy pass: arrays that stay in the CPU cache


def count_tokens(text: str) -> int:
    """len(TOKEN.findall(text)): word runs plus punctuation and symbol characters."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw.translate(_ASCII_WORD).split()) + len(raw.translate(None, _ASCII_WORD_OR_SPACE))
    return sum(1 for _ in TOKEN.finditer(text))


def count_tokens_many(texts: Sequence[str]) -> np.ndarray:
    """`count_tokens` of each text. ASCII texts are counted together in numpy, a chunk at a time (rather
    than one Python call per text); others go through the regex one by one."""
    out = np.zeros(len(texts), dtype=np.int64)
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    ends = np.cumsum(lengths)
    start = 0
    while start < len(texts):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - lengths[start] + _CHUNK_CHARS, "right")))
        out[start:stop] = _count_chunk(texts[start:stop], lengths[start:stop])
        start = stop
    return out


def _count_chunk(texts: Sequence[str], lengths: np.ndarray) -> np.ndarray:
    joined = "\n".join(texts) + "\n"  # a space after each text: no token spans two texts
    if not joined.isascii():
        plain = np.fromiter(map(str.isascii, texts), bool, len(texts))
        out = np.zeros(len(texts), dtype=np.int64)
        if plain.any():
            out[plain] = _count_chunk([t for t, p in zip(texts, plain) if p], lengths[plain])
        out[~plain] = [count_tokens(t) for t, p in zip(texts, plain) if not p]
        return out
    kind = np.frombuffer(joined.encode("ascii").translate(_KIND), dtype=np.uint8)  # translate: C, no index array
    # A token starts at every "other" character and at a word character after a non-word one:
    # kind > (previous kind & 1) says exactly that (2 > 0 or 1; 1 > 0; 0 > nothing).
    token = np.empty(len(kind), dtype=bool)
    token[0] = kind[0] > 0
    np.greater(kind[1:], kind[:-1] & 1, out=token[1:])
    starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    return np.add.reduceat(token.view(np.uint8), starts, dtype=np.int32)


def token_counts(ids: pd.Series, texts: Callable[[Sequence[str]], list[str | None]]) -> np.ndarray | None:
    found = texts(ids.tolist())
    if any(t is None for t in found):
        return None
    return count_tokens_many(found)


def _totals(mask: np.ndarray, chars: np.ndarray, tokens: np.ndarray | None) -> dict[str, Any]:
    n = int(mask.sum())
    out: dict[str, Any] = {"examples": n, "chars": int(chars[mask].sum()),
                           "mean_chars": round(float(chars[mask].mean()), 1) if n else None}
    if tokens is not None:
        out.update(tokens=int(tokens[mask].sum()), mean_tokens=round(float(tokens[mask].mean()), 1) if n else None)
    return out


def coverage(table: pd.DataFrame, status: np.ndarray, texts: Callable[[Sequence[str]], list[str | None]],
             map_clusters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`texts` looks up many ids at once (`RunData.texts`)."""
    selected = table["selected"].fillna(False).astype(bool).to_numpy()
    candidates = ~np.isin(status, ["duplicate", "filtered", "decontaminated"])
    chars = table["chars"].to_numpy(dtype=np.int64) if "chars" in table else np.zeros(len(table), np.int64)
    tokens = token_counts(table["id"], texts)
    out: dict[str, Any] = {
        "totals": {"pool": _totals(np.ones(len(table), bool), chars, tokens),
                   "candidates": _totals(candidates, chars, tokens),
                   "selected": _totals(selected, chars, tokens)},
        "token_method": TOKEN_METHOD if tokens is not None else None,
        "length": length_histogram(chars, selected),
    }
    if "label" in table and table["label"].notna().any():
        out["labels"] = distribution(table["label"], selected)
    if "source" in table and table["source"].nunique() > 1:
        out["sources"] = distribution(table["source"], selected)
    col = cluster_column(table)
    if col is not None:
        out["clusters"] = {**distribution(table[col], selected), "column": col, "estimated": False}
    elif map_clusters is not None:
        out["clusters"] = dict(map_clusters)
    return out
