"""The report's vectorized paths give, value for value, what the per-row definitions they replace give."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.core.ranks import average_ranks
from sft_select.report import coverage as cov
from sft_select.report.figures import _wrap_greedy, squeezed, wrap
from sft_select.report.funnel import _category, categorize, reason_examples
from sft_select.report.html import json_safe
from sft_select.report.summary import status_counts

# Characters that matter to the token regex and to str.strip/split: ASCII words, punctuation, every kind
# of ASCII space (\x1c-\x1f are spaces to Python), Unicode spaces, letters, digits and symbols.
ALPHABET = st.sampled_from(list("aZ9_ .,:;!-\t\n\r\x0b\x0c\x1c\x1f\x00\x7f") +
                           ["\u00a0", "\u3000", "\u2028", "é", "中", "½", "٣", "😻", "ǅ", "\u0301"])
TEXT = st.text(ALPHABET, max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, max_size=25), st.sampled_from([1, 7, 64, 1 << 20]))
def test_count_tokens_many_is_the_regex_count(texts, chunk):
    old = cov._CHUNK_CHARS
    cov._CHUNK_CHARS = chunk  # small chunks put chunk boundaries everywhere, even inside one text
    try:
        got = cov.count_tokens_many(texts)
    finally:
        cov._CHUNK_CHARS = old
    assert got.tolist() == [len(cov.TOKEN.findall(t)) for t in texts]
    assert got.dtype == np.int64


def test_count_tokens_many_edge_texts():
    texts = ["", " ", "\x1c\x1d", "a", "_", "a b", "ab,cd", "x" * 5000, "", "中文 ok", "tab\there", "!"]
    assert cov.count_tokens_many(texts).tolist() == [len(cov.TOKEN.findall(t)) for t in texts]
    assert cov.count_tokens_many([]).tolist() == []


REASON = st.one_of(st.none(), TEXT, st.builds(lambda a, b, c: f"{a}floor{b}:{c} below 0.2", TEXT, TEXT, TEXT),
                   st.sampled_from(["not_selected: rank 61 > N=60", "duplicate_exact", "floor: q below 0.2",
                                    " floor : q", "floor", "floor:", ":", ""]))


@settings(max_examples=300, deadline=None)
@given(st.lists(REASON, max_size=30), st.sampled_from(["object", "str"]))
def test_categorize_is_category_per_row(reasons, dtype):
    series = pd.Series(reasons, dtype=dtype, index=range(100, 100 + len(reasons)))
    cats = categorize(series)
    want = [None if r is None else _category(r) for r in reasons]
    got = cats.series()
    assert got.tolist() == want and got.index.equals(series.index)
    expected = pd.Series(want, dtype=object).dropna().value_counts()
    assert cats.counts() == {k: int(v) for k, v in sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))}
    assert sorted(cats.names) == sorted(set(want) - {None})  # no category without rows
    assert cats.rows(lambda c: c.startswith("floor:")).tolist() == [c is not None and c.startswith("floor:")
                                                                    for c in want]


def test_categorize_falls_back_row_by_row_for_non_text():
    series = pd.Series(["a: b", 5, None, "\ud800: lone surrogate", "floor: v below 1"], dtype=object)
    assert categorize(series).series().tolist() == ["a", "5", None, "\ud800", "floor: v"]
    assert categorize(pd.Series([None, np.nan], dtype=object)).series().tolist() == [None, None]


def test_reason_examples_match_a_groupby_over_a_shuffled_index():
    rng = np.random.default_rng(3)
    n = 200
    reasons = rng.choice(["duplicate_near", "not_selected: rank 9 > N=3", "floor: q below 0.2", None, "b: x"], n)
    table = pd.DataFrame({"id": [f"e{i}" for i in range(n)], "reason": reasons,
                          "filter_reason": np.where(rng.random(n) < 0.2, "too_short: 2 words", None),
                          "kept_id": np.where(rng.random(n) < 0.3, "e0", None)},
                         index=rng.permutation(n) * 3)
    table.loc[table["filter_reason"].notna(), "reason"] = None
    reason = table["reason"].where(table["reason"].notna(), table["filter_reason"])
    cats = pd.Series([None if pd.isna(r) else _category(r) for r in reason], index=table.index, dtype=object)
    want = {str(c): [{"id": str(table.at[i, "id"]), "reason": str(reason.at[i]),
                      "kept_id": table.at[i, "kept_id"] if isinstance(table.at[i, "kept_id"], str) else None}
                     for i in sorted(idx)[:3]]
            for c, idx in cats.dropna().groupby(cats.dropna()).groups.items()}
    assert reason_examples(table) == want


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from(list("ab \n\t…é")), max_size=120), st.integers(1, 30))
def test_wrap_is_the_greedy_loop(text, width):
    assert wrap(text, width) == _wrap_greedy(text, width)  # the regex fast path equals the loop


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=400), st.integers(2, 60))
def test_squeezed_is_split_join_then_cut(text, chars):
    body = " ".join(text.split())
    assert squeezed(text, chars) == (body if len(body) <= chars else body[: chars - 1] + "…")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e300, -1e-300, 7.0]), min_size=1, max_size=40))
def test_average_ranks_are_pandas_ranks(values):
    arr = np.array(values, dtype=float)
    assert average_ranks(arr).tolist() == pd.Series(arr).rank().tolist()


def _json_safe_old(obj):
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _json_safe_old(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe_old(v) for v in obj]
    return obj


def test_json_safe_is_the_recursive_definition():
    obj = {"a": [1.0, math.nan, math.inf, -math.inf, None, True, "s", 3, np.float64("nan"), np.float64(2.0),
                 (1, math.nan), [math.inf, {"b": math.nan}], np.int64(4)], "c": (math.nan,), "d": -math.inf}
    got, want = json_safe(obj), _json_safe_old(obj)
    assert repr(got) == repr(want) and [type(v) for v in got["a"]] == [type(v) for v in want["a"]]


def test_status_counts_are_np_unique_counts():
    status = np.array(["selected", "not selected", "duplicate", "not selected", "filtered"] * 7, dtype=object)
    assert status_counts(status) == {s: int(n) for s, n in zip(*np.unique(status, return_counts=True))}
    assert list(status_counts(status)) == sorted(set(status.tolist()))
