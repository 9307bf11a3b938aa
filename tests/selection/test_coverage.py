"""Coverage strategy: flagged rows and each group's weakest scores left out, quotas kept, groups covered."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sel_helpers import ArrayContext, clustered

from sft_select.core.record import Example
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import select


def labelled_pool(seed: int = 0):
    """Two classes, each made of unequal clusters; a few rows flagged as label issues."""
    Xa, ca = clustered(n_clusters=6, per=30, seed=seed)
    Xb, cb = clustered(n_clusters=4, per=20, seed=seed + 1)
    X = np.vstack([Xa, Xb])
    cl = np.concatenate([ca, 100 + cb])
    labels = ["a"] * len(Xa) + ["b"] * len(Xb)
    rng = np.random.default_rng(seed)
    ids = [f"x{i:04d}" for i in range(len(X))]
    examples = [Example(id=i, source="toy", row=k, format="text_label", original={}, text=i, label=lab)
                for k, (i, lab) in enumerate(zip(ids, labels))]
    # The score favours each class's biggest cluster, as a quality score favours the common kind.
    score = 0.5 * rng.random(len(X)) + 0.5 * np.isin(cl, [0, 100])
    issue = pd.array(rng.random(len(X)) < 0.1, dtype="boolean")
    table = pd.DataFrame({"id": ids, "label": labels, "reason": None, "score": score,
                          "quality_label_issue": issue})
    return table, ArrayContext(examples, dict(zip(ids, X))), cl


def test_drops_flagged_and_trims_each_group():
    table, ctx, _ = labelled_pool()
    cfg = SelectConfig(strategy="coverage", fraction=0.3, coverage={"trim": 0.25})
    sel = select(table, cfg, ctx=ctx)
    issue = table["quality_label_issue"].to_numpy(dtype=bool)
    assert not (sel.keep & issue).any()
    for pos in np.flatnonzero(issue):
        assert sel.reasons[pos].startswith("label_issue: flagged by quality_label")
    for lab in ("a", "b"):
        clean = (table["label"] == lab).to_numpy() & ~issue
        cut = np.sort(table["score"].to_numpy()[clean])[int(np.floor(0.25 * clean.sum())) - 1]
        # Nothing at or below the group's trim line is kept, and the trimmed rows say why.
        assert table["score"].to_numpy()[sel.keep & clean].min() > cut
        trimmed = [r for r, c in zip(sel.reasons, clean) if c and r and r.startswith("low_in_group")]
        assert len(trimmed) == int(np.floor(0.25 * clean.sum()))


def test_keeps_the_pool_class_shares():
    table, ctx, _ = labelled_pool(1)
    sel = select(table, SelectConfig(strategy="coverage", n=40), ctx=ctx)
    kept = table.loc[sel.keep, "label"].value_counts()
    share = (table["label"] == "a").mean()
    assert sel.keep.sum() == 40
    assert abs(kept["a"] - 40 * share) <= 1


def test_covers_more_clusters_than_top_within_quotas():
    table, ctx, cl = labelled_pool(2)
    cov = select(table, SelectConfig(strategy="coverage", n=16, coverage={"trim": 0.0}), ctx=ctx)
    quota = select(table, SelectConfig(strategy="quota", n=16), ctx=ctx)
    assert len(set(cl[cov.keep])) > len(set(cl[quota.keep]))


def test_deterministic_and_flag_off():
    table, ctx, _ = labelled_pool(3)
    cfg = SelectConfig(strategy="coverage", fraction=0.25)
    a, b = select(table, cfg, ctx=ctx), select(table, cfg, ctx=ctx)
    assert np.array_equal(a.keep, b.keep) and a.reasons == b.reasons
    off = select(table, cfg.with_settings({"drop_flagged": False, "coverage.trim": 0.0}), ctx=ctx)
    assert not any(r and r.startswith(("label_issue", "low_in_group")) for r in off.reasons)


def test_every_row_has_a_reason_or_is_kept():
    table, ctx, _ = labelled_pool(4)
    table.loc[:4, "reason"] = "filtered: toy"
    table.loc[:4, "score"] = np.nan
    sel = select(table, SelectConfig(strategy="coverage", n=30), ctx=ctx)
    assert all(k or r for k, r in zip(sel.keep, sel.reasons))
    assert not sel.keep[:5].any()


def test_group_order_offers_the_kept_rows_by_a_view_highest_first():
    table, ctx, _ = labelled_pool(5)
    rng = np.random.default_rng(5)
    table["difficulty_margin"] = rng.random(len(table))
    table.loc[3, "difficulty_margin"] = np.nan
    cfg = SelectConfig(strategy="coverage", n=20, coverage={"trim": 0.2, "order": "difficulty_margin"})
    sel = select(table, cfg, ctx=ctx)
    issue = table["quality_label_issue"].to_numpy(dtype=bool)
    assert sel.keep.sum() == 20 and not (sel.keep & issue).any()
    hard = table["difficulty_margin"].to_numpy()
    for lab in ("a", "b"):
        grp = (table["label"] == lab).to_numpy()
        kept = sel.keep & grp
        # Within the group, every kept row is at least as hard as every row that was a candidate after the
        # trim and was not kept (the ordering is by the view, not by coverage or the combined score).
        unpicked = np.array([r is not None and r.startswith("not_selected") for r in sel.reasons])
        left = grp & ~sel.keep & ~issue & unpicked
        if kept.any() and left.any():
            assert np.nanmin(hard[kept]) >= np.nanmax(hard[left])
        # Trimmed rows (lowest combined score) are never taken, however hard.
        trimmed = np.array([r is not None and r.startswith("low_in_group") for r in sel.reasons]) & grp
        assert trimmed.any() and not (trimmed & sel.keep).any()
    # Not the facility-location pick.
    assert not np.array_equal(sel.keep, select(table, cfg.with_settings({"coverage.order": None}), ctx=ctx).keep)


def test_group_order_names_a_missing_view_clearly():
    import pytest

    from sft_select.core.errors import ConfigError

    table, ctx, _ = labelled_pool(6)
    with pytest.raises(ConfigError, match="coverage.order"):
        select(table, SelectConfig(strategy="coverage", n=10, coverage={"order": "nope"}), ctx=ctx)
