"""The report's O(columns) fast paths give what the plain per-row definitions give."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sft_select.report.coverage import TOKEN, count_tokens, distribution
from sft_select.report.funnel import categories
from sft_select.report.viewstats import ranked_ends, ranked_positions


@pytest.mark.parametrize("text", ["", "Hello, world!", "a_b c-d  e\tf\n", "\x1c\x1dx\x1e", "中文，测试 ok?",
                                  "émoji 😻 and ½", "def f(x): return x**2  # sq", "   ", "!!!"])
def test_count_tokens_is_the_regex_count(text):
    assert count_tokens(text) == len(TOKEN.findall(text))


def test_categories_match_pandas_string_methods():
    reasons = pd.Series(["not_selected: rank 61 > N=60", "  floor: quality_heuristic below 0.2 ", None, np.nan,
                         "duplicate_exact", ":odd", "filter_refusal", "floor:x", 5, "a: b: c"] * 3, index=range(5, 35))
    text = reasons.astype("string").str.strip()  # the vectorized definition it replaces
    head = text.str.split(":", n=1).str[0].str.strip()
    floor_view = "floor: " + text.str.slice(len("floor:")).str.split(" below", n=1).str[0].str.strip()
    want = (head.where(~text.str.startswith("floor:").fillna(False), floor_view).astype(object)
            .where(reasons.notna(), None))
    got = categories(reasons)
    assert got.index.equals(reasons.index) and got.tolist() == want.tolist()


def test_ranked_ends_are_the_ends_of_the_full_ranking():
    rng = np.random.default_rng(0)
    n = 500
    table = pd.DataFrame({"id": [f"id{i:04d}" for i in rng.permutation(n)],
                          "v": rng.integers(0, 6, n).astype(float), "v_raw": rng.normal(size=n)})
    table.loc[::37, "v"] = np.nan
    distinct = rng.random(n) > 0.2
    for k in (1, 5, 40, 300):
        for mask in (None, distinct):
            order = ranked_positions(table, "v", True, mask)
            top, bottom, size = ranked_ends(table, "v", True, mask, k)
            assert top.tolist() == order[:k].tolist() and bottom.tolist() == order[::-1][:k].tolist()
            assert size == len(order)


def test_distribution_counts_match_a_string_groupby():
    values = pd.Series([3.0, 1.0, np.nan, 3.0, 2.0, 1.0, np.nan, 7.0] * 10)
    selected = np.arange(len(values)) % 3 == 0
    keys = values.astype(object).where(values.notna(), "(none)").astype(str)
    frame = pd.DataFrame({"k": keys, "w": 1.0, "s": selected * 1.0})
    agg = frame.groupby("k", sort=False)[["w", "s"]].sum().sort_values("w", ascending=False)
    got = distribution(values, selected)
    assert got["categories"] == list(agg.index) and got["pool"] == agg["w"].tolist()
    assert got["selected"] == agg["s"].tolist() and got["n_categories"] == 5
    assert distribution(values, selected, top=2)["categories"][-1] == "other (3)"
