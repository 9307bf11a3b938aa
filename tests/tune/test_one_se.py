"""The 1-standard-error choice: within one SE of the best f, prefer the larger S, then the less tuned weights."""
from __future__ import annotations

import pytest
from tune_helpers import make_objective, noisy_problem

from sft_select.tune.loop import run_loop, split_validation
from sft_select.tune.objective import Point
from sft_select.tune.sweep import best, one_se

EQUAL = {"a": 0.5, "b": 0.5}


def point(f, size, wa):
    return Point({"a": wa, "b": 1 - wa}, None, size, f, {})


def test_prefers_larger_s_then_equal_weights_within_one_se():
    pts = [point(0.80, 50, 1.0), point(0.79, 100, 0.9), point(0.785, 100, 0.6), point(0.70, 200, 0.5)]
    # n = 400: SE of 0.80 is 0.02, so 0.79 and 0.785 are within it and 0.70 is not.
    chosen = one_se(pts, 400, EQUAL)
    assert chosen is pts[2]
    assert best(pts) is pts[0]


def test_many_validation_rows_shrink_the_band_to_the_best():
    pts = [point(0.80, 50, 1.0), point(0.79, 100, 0.5)]
    assert one_se(pts, 1_000_000, EQUAL) is pts[0]
    assert one_se(pts, 0, EQUAL) is pts[0]  # no validation rows: nothing to estimate, the best stands


def test_a_loss_is_not_a_share_so_the_best_stands():
    pts = [point(-2.0, 50, 1.0), point(-2.01, 100, 0.5)]
    assert one_se(pts, 10, EQUAL) is pts[0]


def test_loop_reports_the_rule_and_the_highest_f():
    pool, table, specs, val, cap = noisy_problem()
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    equal = {s.name: 1 / len(specs) for s in specs}
    kw = dict(initial_weights=equal, initial_threshold=None, rounds=1, trials=3, method="dirichlet", alpha=1.0,
              shares=[0.5, 1.0], random_seeds=1, seed=0)
    res = run_loop(make_objective(pool, table, specs, tune_part, cap), holdout, choose="one_se", **kw)
    rep = res.report
    assert rep["choose"] == "one_se"
    assert rep["best"]["f"] >= rep["highest_f"]["f"] - (rep["highest_f"]["f"] * (1 - rep["highest_f"]["f"])
                                                         / len(tune_part)) ** 0.5 - 1e-9
    assert rep["best"]["size"] >= rep["highest_f"]["size"]


def _coverage_loop(**settings):
    """The tune loop on the noisy problem with the coverage strategy; `settings`: choose and the grid."""
    pool, table, specs, val, cap = noisy_problem()
    table = table.assign(quality_label_issue=False)
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    obj = make_objective(pool, table, specs, tune_part, cap, strategy="coverage")
    equal = {s.name: 1 / len(specs) for s in specs}
    res = run_loop(obj, holdout, initial_weights=equal, initial_threshold=None, rounds=1, trials=2,
                   method="dirichlet", alpha=1.0, shares=[1.0], random_seeds=1, seed=0, **settings)
    return res, tune_part


def test_coverage_trim_is_chosen_and_written_to_the_tuned_config():
    from sft_select.config import build_config
    from sft_select.tune.loop import tuned_config

    res, _ = _coverage_loop(trims=[0.0, 0.5])
    trim_points = [p for p in res.report["trace"] if p["phase"] == "settings"]
    assert {p["label"] for p in trim_points} <= {"group_trim=0.0 cover_mix=0.0", "group_trim=0.5 cover_mix=0.0"}
    assert trim_points
    assert res.group_trim in (0.0, 0.3, 0.5)
    f_by = {p["label"]: p["f"] for p in trim_points}
    # "best" picks the highest f: nothing tried scores above the chosen point.
    assert all(f <= res.report["best"]["f"] + 1e-12 for f in f_by.values())
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    assert tuned_config(cfg, ["quality_label"], res).select.group_trim == res.group_trim


def test_cover_mix_grid_is_tried_and_the_least_intervention_within_one_se_wins():
    from sft_select.config import build_config
    from sft_select.tune.loop import tuned_config
    from sft_select.tune.settings import se

    res, tune_part = _coverage_loop(choose="one_se", trims=[0.0, 0.3], mixes=[0.0, 0.5, 1.0])
    rep = res.report
    tried = {p["label"]: p["f"] for p in rep["trace"] if p["phase"] == "settings"}
    # The whole grid is tried, except the configured setting (group_trim 0.3, cover_mix 0), already measured.
    assert set(tried) == {f"group_trim={t} cover_mix={m}" for t in (0.0, 0.3) for m in (0.0, 0.5, 1.0)} - \
        {"group_trim=0.3 cover_mix=0.0"}
    every = {**tried, "group_trim=0.3 cover_mix=0.0": rep["best"]["f"] if (res.group_trim, res.cover_mix) == (0.3, 0.0)
             else None}
    top = max(f for f in every.values() if f is not None)
    band = top - se(top, len(tune_part))
    assert rep["best"]["f"] >= band - 1e-12
    # No setting with a smaller trim (or the same trim and a mix nearer 0) is inside the band.
    for label, f in tried.items():
        t, m = (float(x.split("=")[1]) for x in label.split())
        if (t, m) < (res.group_trim, res.cover_mix) and f is not None:
            assert f < band
    assert (rep["group_trim"], rep["cover_mix"]) == (res.group_trim, res.cover_mix)
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    tuned = tuned_config(cfg, ["quality_label"], res).select
    assert (tuned.group_trim, tuned.cover_mix) == (res.group_trim, res.cover_mix)


def test_cover_mixes_are_validated():
    from pydantic import ValidationError

    from sft_select.tune.config import TuneConfig

    assert TuneConfig(cover_mixes=[1, 0, 0.1, 0]).cover_mixes == [0, 0.1, 1]
    with pytest.raises(ValidationError):
        TuneConfig(cover_mixes=[1.5])


def test_group_order_is_tried_once_per_trim_and_written_to_the_tuned_config():
    from sft_select.config import build_config
    from sft_select.tune.loop import tuned_config

    res, _ = _coverage_loop(choose="best", trims=[0.0, 0.3], mixes=[0.0, 1.0], orders=[None, "clean"])
    tried = [p["label"] for p in res.report["trace"] if p["phase"] == "settings"]
    # cover_mix does not matter under a view order: one point per trim for it.
    assert sorted(x for x in tried if "group_order" in x) == ["group_trim=0.0 group_order=clean",
                                                              "group_trim=0.3 group_order=clean"]
    assert len(tried) == 2 * 2 + 2 - 1
    f_all = [p["f"] for p in res.report["trace"] if p["phase"] == "settings"]
    assert res.report["best"]["f"] >= max(f_all) - 1e-12  # "best": nothing tried scores higher
    assert res.report["group_order"] == res.group_order
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    assert tuned_config(cfg, ["quality_label"], res).select.group_order == res.group_order
