"""Quotas per class and per cluster: shares, minimums, and a clear error when the groups are missing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sel_helpers import make_pool

from sft_select.core.errors import ConfigError
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import select


def counts(table, keep, col="label"):
    return table.loc[keep, col].value_counts().to_dict()


def test_proportional_keeps_the_pool_mix():
    table, _ = make_pool(n=400)
    cand = table[table["reason"].isna()]
    share = cand["label"].value_counts(normalize=True)
    sel = select(table, SelectConfig(strategy="quota", n=100))
    got = counts(table, sel.keep)
    assert sum(got.values()) == 100
    for label, p in share.items():
        assert abs(got.get(label, 0) - 100 * p) <= 1, (label, got, share.to_dict())


def test_equal_balances_and_caps_at_group_size():
    table, _ = make_pool(n=400)
    cand = table[table["reason"].isna()]
    sizes = cand["label"].value_counts()
    n = 4 * int(sizes.min()) + 20  # more than 4 equal shares of the smallest class
    sel = select(table, SelectConfig(strategy="quota", quota="equal", n=n))
    got = counts(table, sel.keep)
    assert sum(got.values()) == n
    smallest = sizes.idxmin()
    assert got[smallest] == sizes[smallest], "a small class gives all it has"
    others = [got[g] for g in got if g != smallest]
    assert max(others) - min(others) <= 1, got


def test_within_a_group_best_score_first():
    table, _ = make_pool(n=300)
    sel = select(table, SelectConfig(strategy="quota", quota="equal", n=40))
    for _, grp in table[table["reason"].isna()].groupby("label"):
        kept = grp.loc[sel.keep[grp.index], "score"]
        rest = grp.loc[~sel.keep[grp.index], "score"]
        if len(kept) and len(rest):
            assert kept.min() >= rest.max()


def test_min_per_group_is_honoured():
    table, _ = make_pool(n=300)
    # Top-N by score alone would take few of the rarest class; the minimum forces 8 of each.
    sel = select(table, SelectConfig(strategy="quota", n=40, min_per_group=8))
    got = counts(table, sel.keep)
    assert all(v >= 8 for v in got.values()) and len(got) == 4 and sum(got.values()) == 40


def test_min_per_group_over_n_is_a_config_error():
    table, _ = make_pool()
    with pytest.raises(ConfigError, match="min_per_group"):
        select(table, SelectConfig(strategy="quota", n=10, min_per_group=5))


def test_cluster_quota_reads_the_diversity_column():
    table, _ = make_pool(n=200)
    with pytest.raises(ConfigError, match="diversity_cluster"):
        select(table, SelectConfig(strategy="quota", quota_by="cluster", n=20))
    table["diversity_cluster"] = np.arange(len(table)) % 5
    sel = select(table, SelectConfig(strategy="quota", quota_by="cluster", quota="equal", n=25))
    got = counts(table, sel.keep, "diversity_cluster")
    assert got == {c: 5 for c in range(5)}


def test_label_quota_without_labels_is_a_config_error():
    table, _ = make_pool()
    table["label"] = None
    with pytest.raises(ConfigError, match="labelled data"):
        select(table, SelectConfig(strategy="quota", n=10))


def test_quota_with_threshold_and_budget():
    from sel_helpers import ArrayContext  # noqa: F401  (budget needs the examples)

    from sft_select.selection.base import Context

    table, examples = make_pool(n=300)
    sel = select(table, SelectConfig(strategy="quota", quota="equal", threshold=0.3, budget_tokens=400,
                                     tokenizer="regex"), ctx=Context.of(examples))
    assert (table.loc[sel.keep, "score"] >= 0.3).all()
    got = counts(table, sel.keep)
    assert max(got.values()) - min(got.values()) <= 2, "every prefix of the quota order is balanced"
    assert isinstance(pd.Series(got).sum(), (int, np.integer))
