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


def _coverage_loop(choose="best", trims=(), mixes=(), orders=()):
    """The tune loop on the noisy problem with the coverage strategy and a grid of its settings."""
    pool, table, specs, val, cap = noisy_problem()
    table = table.assign(quality_label_issue=False)
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    obj = make_objective(pool, table, specs, tune_part, cap, strategy="coverage")
    equal = {s.name: 1 / len(specs) for s in specs}
    grid = {k: list(v) for k, v in (("coverage.trim", trims), ("coverage.mix", mixes), ("coverage.order", orders)) if v}
    res = run_loop(obj, holdout, initial_weights=equal, initial_threshold=None, rounds=1, trials=2,
                   method="dirichlet", alpha=1.0, shares=[1.0], random_seeds=1, seed=0, choose=choose,
                   grids={"coverage": grid})
    res.group_trim, res.cover_mix, res.group_order = (
        (res.settings or {}).get(k, v)
        for k, v in (("coverage.trim", 0.3), ("coverage.mix", 0.0), ("coverage.order", None)))
    return res, tune_part


def test_coverage_trim_is_chosen_and_written_to_the_tuned_config():
    from sft_select.config.schema import build_config
    from sft_select.tune.loop import tuned_config

    res, _ = _coverage_loop(trims=[0.0, 0.5])
    trim_points = [p for p in res.report["trace"] if p["phase"] == "settings"]
    assert {p["label"] for p in trim_points} <= {"coverage.trim=0.0", "coverage.trim=0.5"}
    assert trim_points
    assert res.group_trim in (0.0, 0.3, 0.5)
    f_by = {p["label"]: p["f"] for p in trim_points}
    # "best" picks the highest f: nothing tried scores above the chosen point.
    assert all(f <= res.report["best"]["f"] + 1e-12 for f in f_by.values())
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    assert tuned_config(cfg, ["quality_label"], res).select.coverage.trim == res.group_trim


def test_cover_mix_grid_is_tried_and_the_least_intervention_within_one_se_wins():
    from sft_select.config.schema import build_config
    from sft_select.tune.loop import tuned_config
    from sft_select.tune.params import se

    res, tune_part = _coverage_loop(choose="one_se", trims=[0.0, 0.3], mixes=[0.0, 0.5, 1.0])
    rep = res.report
    tried = {p["label"]: p["f"] for p in rep["trace"] if p["phase"] == "settings"}
    # The whole grid is tried, except the configured setting (coverage.trim 0.3, coverage.mix 0), already measured.
    every = {f"coverage.trim={t} coverage.mix={m}" for t in (0.0, 0.3) for m in (0.0, 0.5, 1.0)}
    assert set(tried) == every - {"coverage.trim=0.3 coverage.mix=0.0"}
    top = max([*tried.values(), rep["best"]["f"]])
    band = top - se(top, len(tune_part))
    assert rep["best"]["f"] >= band - 1e-12
    # No setting that changes fewer values from the configured one is inside the band.
    changes = lambda t, m: (t != 0.3) + (m != 0.0)  # noqa: E731
    for label, f in tried.items():
        t, m = (float(x.split("=")[1]) for x in label.split())
        if changes(t, m) < changes(res.group_trim, res.cover_mix):
            assert f < band
    assert rep["settings"] in (None, {"coverage.trim": res.group_trim, "coverage.mix": res.cover_mix})
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    tuned = tuned_config(cfg, ["quality_label"], res).select
    assert (tuned.coverage.trim, tuned.coverage.mix) == (res.group_trim, res.cover_mix)


def test_cover_mixes_are_validated():
    from pydantic import ValidationError

    from sft_select.tune.config import TuneConfig

    assert TuneConfig(grid={"coverage": {"mix": [1, 0, 0.1, 0]}}).grid.coverage.mix == [0, 0.1, 1]
    with pytest.raises(ValidationError):
        TuneConfig(grid={"coverage": {"mix": [1.5]}})


def test_group_order_is_tried_once_per_trim_and_written_to_the_tuned_config():
    from sft_select.config.schema import build_config
    from sft_select.tune.loop import tuned_config

    res, _ = _coverage_loop(choose="best", trims=[0.0, 0.3], mixes=[0.0, 1.0], orders=[None, "clean"])
    tried = [p["label"] for p in res.report["trace"] if p["phase"] == "settings"]
    # The whole grid (2 trims x 2 mixes x 2 orders) but the configured point; cover_mix does not matter under
    # a view order: the same S, fitted once (the memo), so the same f for both mixes.
    assert len(tried) == 2 * 2 * 2 - 1
    f_by = {p["label"]: p["f"] for p in res.report["trace"] if p["phase"] == "settings"}
    for t in (0.0, 0.3):
        one = f_by[f"coverage.trim={t} coverage.mix=1.0 coverage.order=clean"]
        assert one == f_by.get(f"coverage.trim={t} coverage.mix=0.0 coverage.order=clean", one)
    f_all = [p["f"] for p in res.report["trace"] if p["phase"] == "settings"]
    assert res.report["best"]["f"] >= max(f_all) - 1e-12  # "best": nothing tried scores higher
    assert (res.report["settings"] or {}).get("coverage.order") == res.group_order
    cfg = build_config({"views": {"use": ["quality_label"]}, "select": {"fraction": 0.3, "strategy": "coverage"}})
    assert tuned_config(cfg, ["quality_label"], res).select.coverage.order == res.group_order
