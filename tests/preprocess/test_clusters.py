"""Duplicate clusters: union-find across steps, and keeping the best (or first) member."""
from __future__ import annotations

import pandas as pd

from sft_select.preprocess.clusters import DuplicateClusters, resolve


def test_links_merge_transitively_with_stable_ids():
    c = DuplicateClusters(5)
    c.link([(3, 1)], "exact")
    c.link([(4, 3)], "near")
    cluster, kind = c.columns(["a", "b", "c", "d", "e"])
    assert cluster == [None, "b", None, "b", "b"]
    assert kind[1] == "exact" and kind[4] == "near"


def table(scores):
    return pd.DataFrame({"id": list("abcd"), "score": scores, "reason": [None] * 4,
                         "dup_cluster": ["a", None, "a", "a"], "dup_kind": ["exact", None, "exact", "near"]})


def test_keep_best_keeps_highest_score_and_names_it():
    out = resolve(table([0.2, 0.9, 0.8, 0.5]), keep="best")
    assert out["reason"].tolist() == ["duplicate_exact", None, None, "duplicate_near"]
    assert out["kept_id"].tolist()[0] == "c" and out["kept_id"].tolist()[3] == "c"


def test_keep_first_keeps_earliest():
    out = resolve(table([0.2, 0.9, 0.8, 0.5]), keep="first")
    assert out["reason"].isna().tolist() == [True, True, False, False]
    assert set(out["kept_id"].dropna()) == {"a"}


def test_already_dropped_members_do_not_win():
    t = table([0.2, 0.9, 0.8, 0.5])
    t.loc[2, "reason"] = "floor: x"
    out = resolve(t, keep="best")
    assert out.loc[3, "reason"] is None or pd.isna(out.loc[3, "reason"])
    assert out.loc[0, "kept_id"] == "d"
    assert out.loc[2, "reason"] == "floor: x", "a member dropped for another reason keeps that reason"
