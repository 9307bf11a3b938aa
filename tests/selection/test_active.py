"""The active strategy: margin sampling with the labels known, guarded against flipped labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sel_helpers import ArrayContext
from sklearn.linear_model import LogisticRegression

from sft_select.config.schema import build_config
from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import select


def blobs(n: int, k: int, dim: int, sep: float, flip: float, seed: int, draw: int):
    """k Gaussian classes around fixed centres (by `seed`), rows drawn by `draw`; a share `flip` of the given
    labels moved to another class at random. Returns X, true class, given class, flipped mask."""
    centres = np.random.default_rng(seed).normal(size=(k, dim)) * sep
    rng = np.random.default_rng(draw)
    y = rng.integers(k, size=n)
    X = centres[y] + rng.normal(size=(n, dim))
    given = y.copy()
    flipped = rng.random(n) < flip
    given[flipped] = (y[flipped] + rng.integers(1, k, size=int(flipped.sum()))) % k
    return X, y, given, flipped


def planted(n=1000, k=4, dim=16, sep=1.0, flip=0.2, flagged=0.5, seed=0):
    """A labelled pool with planted flips, half of them flagged as a quality_label view would (`*_issue`)."""
    X, y, given, flipped = blobs(n, k, dim, sep, flip, seed, seed + 100)
    examples = [Example(id=f"id{i:05d}", source="toy", row=i, format="text_label", original={}, text=str(i),
                        label=f"c{given[i]}") for i in range(n)]
    flag = flipped & (np.random.default_rng(seed + 300).random(n) < flagged)
    table = pd.DataFrame({"id": [ex.id for ex in examples], "label": [ex.label for ex in examples],
                          "reason": None, "score": 0.5, "quality_label_issue": flag})
    ctx = ArrayContext(examples, {ex.id: X[i] for i, ex in enumerate(examples)})
    return table, ctx, X, given, flipped


def clean_test_accuracy(X, given, keep, seed=0, k=4, dim=16, sep=1.0) -> float:
    """A logistic regression trained on the selected rows (given labels), scored on fresh clean rows."""
    Xt, yt, _, _ = blobs(3000, k, dim, sep, 0.0, seed, seed + 200)
    return float((LogisticRegression(max_iter=1000).fit(X[keep], given[keep]).predict(Xt) == yt).mean())


def test_keeps_fewer_flips_than_random_and_trains_a_better_model():
    table, ctx, X, given, flipped = planted()
    act = select(table, SelectConfig(strategy="active", fraction=0.2), seed=0, ctx=ctx).keep
    rnd = select(table, SelectConfig(strategy="random", fraction=0.2), seed=0, ctx=ctx).keep
    assert act.sum() == rnd.sum() == 200
    assert flipped[act].mean() < 0.5 * flipped[rnd].mean()  # measured: 0.045 vs 0.20
    assert clean_test_accuracy(X, given, act) > clean_test_accuracy(X, given, rnd) + 0.03  # 0.958 vs 0.881


def test_the_skip_guard_alone_keeps_out_flips():
    """No flag column at all: only the classifier's doubt about a row's label keeps the flips out."""
    for seed in range(3):
        table, ctx, _, _, flipped = planted(dim=8, sep=1.5, flagged=0.0, seed=seed)
        table = table.drop(columns="quality_label_issue")
        guarded = select(table, SelectConfig(strategy="active", fraction=0.2), seed=0, ctx=ctx)
        open_ = select(table, SelectConfig(strategy="active", fraction=0.2, active={"skip": 0.0}), seed=0, ctx=ctx).keep
        rnd = select(table, SelectConfig(strategy="random", fraction=0.2), seed=0, ctx=ctx).keep
        assert flipped[guarded.keep].mean() < min(flipped[open_].mean(), flipped[rnd].mean())
        doubted = [i for i, r in enumerate(guarded.reasons) if r and r.startswith("label_doubt")]
        assert doubted and flipped[doubted].mean() > 2 * flipped.mean(), "the rows in doubt are mostly flips"


def test_deterministic_under_the_seed_and_the_seed_matters():
    table, ctx, *_ = planted(n=400)
    cfg = SelectConfig(strategy="active", n=80)
    a, b = select(table, cfg, seed=5, ctx=ctx), select(table, cfg, seed=5, ctx=ctx)
    assert np.array_equal(a.keep, b.keep) and a.reasons == b.reasons
    assert not np.array_equal(a.keep, select(table, cfg, seed=6, ctx=ctx).keep)


def test_reasons_class_shares_and_flagged_rows():
    table, ctx, *_ = planted(n=600)
    table.loc[[3, 4], "reason"] = "filter_short: toy"
    sel = select(table, SelectConfig(strategy="active", n=120, active={"batch": 0.05}), seed=0, ctx=ctx)
    reasons = pd.Series(sel.reasons)
    assert sel.keep.sum() == 120 and reasons[sel.keep].isna().all()
    assert reasons[~sel.keep].notna().all(), "every row left out says why"
    assert reasons[[3, 4]].tolist() == ["filter_short: toy"] * 2, "preprocessing reasons stay"
    flag = table["quality_label_issue"].to_numpy() & table["reason"].isna().to_numpy()
    assert not (sel.keep & flag).any()
    assert reasons[flag].str.startswith("label_issue: flagged by quality_label").all()
    assert reasons.str.startswith("label_doubt: p(").any() and reasons.str.startswith("not_selected: margin").any()
    # Proportional seats over the classes, counted before the flagged rows left: within one of each share.
    cand = table["reason"].isna()
    share = table.loc[cand, "label"].value_counts() / cand.sum()
    got = table.loc[sel.keep, "label"].value_counts()
    assert ((got - 120 * share).abs() <= 1).all()


def test_label_score_and_batch_size_change_the_order():
    table, ctx, *_ = planted(n=600)
    base = select(table, SelectConfig(strategy="active", n=150), seed=0, ctx=ctx).keep
    by_label = select(table, SelectConfig(strategy="active", n=150, active={"score": "label"}), seed=0, ctx=ctx).keep
    one_batch = select(table, SelectConfig(strategy="active", n=150, active={"batch": 1.0}), seed=0, ctx=ctx).keep
    assert not np.array_equal(base, by_label) and not np.array_equal(base, one_batch)


def test_one_class_pool_is_a_seeded_sample():
    table, ctx, *_ = planted(n=100, flagged=0.0)
    table["label"] = "only"
    sel = select(table, SelectConfig(strategy="active", n=10), seed=0, ctx=ctx)
    assert sel.keep.sum() == 10


def test_unlabelled_data_is_a_config_error():
    table, ctx, *_ = planted(n=100)
    with pytest.raises(ConfigError, match="needs labelled data"):
        select(table.assign(label=None), SelectConfig(strategy="active", n=10), ctx=ctx)
    table.loc[7, "label"] = None
    with pytest.raises(ConfigError, match="1 have none.*id00007"):
        select(table, SelectConfig(strategy="active", n=10), ctx=ctx)


def test_config_rejects_unknown_and_bad_active_settings():
    assert build_config({"select": {"strategy": "active", "active": {"batch": 0.05}}}).select.active.batch == 0.05
    for bad in ({"active_batches": 0.05}, {"active_score": "entropy"}, {"active_skip": 1.5}, {"active_seed": 0}):
        with pytest.raises(ConfigError):
            build_config({"select": {"strategy": "active", **bad}})
