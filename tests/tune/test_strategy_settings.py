"""The loop chooses a strategy's own settings (tune/params.py: one search over what each strategy declares
tunable) and writes them out; here for active, in test_one_se.py for coverage."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import yaml
from tune_helpers import make_objective, noisy_problem

from sft_select.config.schema import Config, build_config, dump_config
from sft_select.selection.strategies import TUNABLE
from sft_select.tune.loop import run_loop, split_validation, tuned_config
from sft_select.tune.objective import Objective, Point
from sft_select.tune.params import choose_params, grid_points

FIELDS = TUNABLE["active"]


def _loop(strategy="active", choose="best", strategies=(), grid=None, **select):
    """The loop on the synthetic noisy pool (40% of the labels flipped, no flag column)."""
    pool, table, specs, val, cap = noisy_problem(n=300, n_val=200)
    tune_part, holdout = split_validation(val, 0.3, seed=0)
    obj = make_objective(pool, table, specs, tune_part, cap, strategy=strategy)
    obj.select = obj.select.model_copy(update=select)
    equal = {s.name: 1 / len(specs) for s in specs}
    res = run_loop(obj, holdout, initial_weights=equal, initial_threshold=None, rounds=1, trials=1,
                   method="dirichlet", alpha=1.0, shares=[1.0], random_seeds=1, seed=0, choose=choose,
                   strategies=list(strategies), grids={"active": grid} if grid else None)
    return res, tune_part


def as_real_view(res):
    """The same result with a registered view's name: the config validates view names."""
    return replace(res, weights={"quality_heuristic": 1.0})


def _tried(res) -> dict[str, float]:
    return {p["label"]: p["f"] for p in res.report["trace"] if p["phase"] == "settings"}


def _label(**kw) -> str:
    """The label of a point of the {active.skip, active.C} grid (the searched fields, in the grid's order)."""
    base = {"active.skip": 0.5, "active.C": 1.0}
    return " ".join(f"{k}={v}" for k, v in {**base, **kw}.items())


def test_the_grid_is_searched_and_the_chosen_values_are_written_to_the_tuned_config():
    res, _ = _loop(grid={"active.skip": [0.0, 1.0], "active.C": [0.5, 4.0]})
    tried = _tried(res)
    # Every combination but the configured one (skip 0.5, C 1), which the loop measured before.
    grid = {_label(**{"active.skip": s, "active.C": c}) for s in (0.5, 0.0, 1.0) for c in (1.0, 0.5, 4.0)}
    assert set(tried) == grid - {_label()}
    rep = res.report
    assert rep["best"]["f"] >= max(tried.values()) - 1e-12  # "best": nothing tried scores higher
    assert rep["settings"] == res.settings and set(res.settings) == {"active.skip", "active.C"}
    assert rep["grids"] == {"active": {"active.skip": [0.0, 1.0], "active.C": [0.5, 4.0]}}
    # Measured here: skip 1 with C 4 (f 0.993 against 0.979 configured), so writing it changes the config.
    assert res.settings != {k: Config().select.setting(k) for k in res.settings}
    tuned = tuned_config(Config(), ["quality_heuristic"], as_real_view(res))
    assert {k: tuned.select.setting(k) for k in res.settings} == res.settings
    # `sft-select run --config tuned-config.yaml` reads what the loop wrote, as is.
    again = build_config(yaml.safe_load(dump_config(tuned)))
    assert {k: again.select.setting(k) for k in res.settings} == res.settings


def test_no_grid_no_search_and_the_settings_stay():
    res, _ = _loop(grid=None)
    assert _tried(res) == {} and res.settings is None and res.report["settings"] is None
    tuned = tuned_config(Config(), ["quality_heuristic"], as_real_view(res))
    assert tuned.select.active.skip == Config().select.active.skip


def test_a_listed_active_is_compared_at_its_chosen_settings():
    res, _ = _loop(strategy="top", strategies=["active"], grid={"active.skip": [0.0, 1.0]})
    rep = res.report
    strat = {p["label"]: p["f"] for p in rep["trace"] if p["phase"] == "strategy"}
    tried = _tried(res)
    assert set(strat) == {"strategy=active"} and len(tried) == 2
    active_best = max([strat["strategy=active"], *tried.values()])
    if res.strategy == "active":
        assert rep["best"]["f"] == pytest.approx(active_best)
        tuned = tuned_config(Config(), ["quality_heuristic"], as_real_view(res))
        assert tuned.select.active.skip == res.settings["active.skip"]
    else:  # top kept: its f is at least active's best, and active's settings are not written
        assert rep["best"]["f"] >= active_best and res.settings is None


def test_a_configured_coverage_does_not_search_the_active_grid():
    pool, table, specs, val, cap = noisy_problem(n=200, n_val=100)
    obj = make_objective(pool, table.assign(quality_label_issue=False), specs, val, cap, strategy="coverage")
    res = run_loop(obj, [], initial_weights={s.name: 1 / 3 for s in specs}, initial_threshold=None, rounds=1,
                   trials=1, method="dirichlet", alpha=1.0, shares=[1.0], random_seeds=1, seed=0,
                   grids={"active": {"active.skip": [0.0]}})
    assert _tried(res) == {} and res.settings is None


@dataclass
class Scripted(Objective):
    """An objective whose f is given per active setting (no selection, no fit): the choice rule alone."""

    script: dict | None = None

    def __call__(self, weights, threshold, *, label="", round=0, phase=""):
        key = tuple(self.select.setting(k) for k in FIELDS)
        return Point(dict(weights), threshold, 10, self.script[key], {}, label, round, phase)


def _scripted(f_by: dict, n_val: int) -> tuple[Scripted, Point]:
    pool, table, specs, val, cap = noisy_problem(n=20, n_val=n_val)
    base = make_objective(pool, table, specs, val, cap, strategy="active")
    obj = Scripted(**{k: getattr(base, k) for k in base.__dataclass_fields__}, script=f_by)
    return obj, obj({"clean": 1.0}, None)


def test_one_se_keeps_the_fewest_changes_within_the_band():
    given = (0.2, 0.03, 0.5, 1.0, "margin")
    f_by = {given: 0.80, (0.2, 0.03, 0.0, 1.0, "margin"): 0.81, (0.2, 0.03, 1.0, 1.0, "margin"): 0.83,
            (0.2, 0.03, 0.0, 3.0, "margin"): 0.84, (0.2, 0.03, 0.5, 3.0, "margin"): 0.82,
            (0.2, 0.03, 1.0, 3.0, "margin"): 0.70}
    grid = {"active.skip": [0.0, 1.0], "active.C": [3.0]}
    # 400 rows: SE of 0.84 is 0.018, band 0.822: 0.83 (one change) is in it, 0.82 is not, 0.84 needs two changes.
    obj, current = _scripted(f_by, 400)
    points = grid_points(obj, grid)
    assert points[0] == {"active.skip": 0.5, "active.C": 1.0} and len(points) == 6
    point, chosen, tried = choose_params(obj, current, grid, choose="one_se", round=1)
    assert chosen == {"active.skip": 1.0, "active.C": 1.0} and point.f == 0.83 and len(tried) == 5
    assert choose_params(obj, current, grid, choose="best", round=1)[1] == {"active.skip": 0.0, "active.C": 3.0}
    # A small tune part: everything within one SE, the configured values stay.
    obj, current = _scripted(f_by, 20)
    assert choose_params(obj, current, grid, choose="one_se", round=1)[1] == {"active.skip": 0.5, "active.C": 1.0}


def test_the_grid_lists_are_validated():
    from pydantic import ValidationError

    from sft_select.tune.config import TuneConfig

    t = TuneConfig(grid={"active": {"skip": [1, 0, 0.5, 0], "C": [3, 1], "seed": [0.1], "batch": [0.01],
                                    "score": ["label", "margin", "label"]}})
    assert t.grid_for("active") == {"active.seed": [0.1], "active.batch": [0.01], "active.skip": [0, 0.5, 1],
                                    "active.C": [1, 3], "active.score": ["label", "margin"]}
    assert TuneConfig().grid_for("active") == {}
    assert t.grid_for("coverage") == {} and t.grid_for("top") == {}
    cov = TuneConfig(grid={"coverage": {"trim": [0.3, 0]}})
    assert cov.grids(["coverage", "active", "top"]) == {"coverage": {"coverage.trim": [0, 0.3]}}
    for bad in ({"skip": [1.5]}, {"C": [0]}, {"seed": [0]}, {"batch": [2]}, {"score": ["entropy"]}):
        with pytest.raises(ValidationError):
            TuneConfig(grid={"active": bad})


def test_flat_grid_lists_of_earlier_versions_still_load():
    from pydantic import ValidationError

    from sft_select.config.schema import build_config
    from sft_select.tune.config import LEGACY_KEYS, TuneConfig

    old = build_config({"tune": {"trims": [0.3, 0], "cover_mixes": [1], "active_skips": [0, 1], "active_Cs": [3],
                                 "grid": {"active": {"seed": [0.1]}}}}).tune
    new = TuneConfig(grid={"coverage": {"trim": [0, 0.3], "mix": [1]}, "active": {"skip": [0, 1], "C": [3],
                                                                               "seed": [0.1]}})
    assert old == new
    assert len(LEGACY_KEYS) == 8
    with pytest.raises(ValidationError):
        TuneConfig(active_skips=[1.5])


def test_tune_lists_cover_exactly_the_settings_strategies_declare_tunable():
    from sft_select.selection.config import SelectConfig
    from sft_select.tune.config import GridConfig

    listed = {f"{s}.{f}" for s, section in GridConfig.model_fields.items()
              for f in section.annotation.model_fields}
    assert listed == {path for paths in TUNABLE.values() for path in paths}
    for path in listed:
        SelectConfig().setting(path)  # a real setting


def test_tune_strategies_are_checked_against_the_registry():
    from sft_select.config.schema import build_config
    from sft_select.core.errors import ConfigError

    assert build_config({"tune": {"strategies": ["active", "coverage", "active"]}}).tune.strategies == \
        ["active", "coverage"]
    for bad in (["nope"], ["auto"]):
        with pytest.raises(ConfigError, match="tune.strategies"):
            build_config({"tune": {"strategies": bad}})
