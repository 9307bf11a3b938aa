"""The closed loop on a synthetic noisy-label set: it must find weights that beat the bad views."""
from __future__ import annotations

import numpy as np
import pytest
from tune_helpers import make_objective, noisy_problem

from sft_select.tune.loop import holdout_line, run_loop, split_validation

LOOP = dict(rounds=2, trials=6, method="dirichlet", alpha=1.0, shares=[0.5, 1.0], random_seeds=3, seed=0)
EQUAL = {"clean": 1 / 3, "junk": 1 / 3, "anti": 1 / 3}


class Recording:
    """Wraps a real proxy and records which validation examples each fit was scored on."""

    def __init__(self, inner):
        self.inner, self.name, self.metric, self.seen = inner, inner.name, inner.metric, []

    def describe(self):
        return self.inner.describe()

    def evaluate(self, train, validation, seed=0):
        self.seen.append({ex.id for ex in validation})
        return self.inner.evaluate(train, validation, seed)


@pytest.fixture(scope="module")
def tuned():
    pool, table, specs, val, cap = noisy_problem()
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    obj = make_objective(pool, table, specs, tune_part, cap)
    obj.proxy = Recording(obj.proxy)
    result = run_loop(obj, holdout, initial_weights=EQUAL, initial_threshold=None, **LOOP)
    return obj, result, holdout, pool


def test_beats_the_worst_single_view_on_the_holdout(tuned):
    obj, result, holdout, pool = tuned
    rep = result.report
    singles = {p["label"]: p for p in rep["trace"] if p["label"].startswith("only ")}
    assert set(singles) == {"only clean", "only junk", "only anti"}
    worst = min(singles.values(), key=lambda p: p["f"])
    assert worst["label"] == "only anti", "trusting the view that prefers mislabelled rows is worst"
    by_id = {ex.id: ex for ex in pool}
    ids = obj.subset(worst["weights"], None)
    worst_holdout = obj.proxy.inner.evaluate([by_id[i] for i in ids], holdout).value
    assert rep["best"]["f"] > worst["f"] + 0.05
    assert rep["best"]["f_holdout"] > worst_holdout + 0.05
    assert rep["best"]["weights"]["clean"] > rep["best"]["weights"]["anti"]
    assert rep["best"]["f_holdout"] > rep["baselines"]["random_mean"]["f_holdout"]


def test_report_has_curve_baselines_and_balance(tuned):
    _, result, holdout, _ = tuned
    rep = result.report
    assert rep["version"] == 1 and rep["proxy"]["metric"] == "accuracy"
    sizes = [p["size"] for p in rep["curve"]]
    taus = [p["threshold"] for p in rep["curve"]]
    assert sizes == sorted(sizes) and all(s <= rep["pool"]["cap"] for s in sizes)
    assert taus == sorted(taus, reverse=True)
    assert len(rep["baselines"]["random"]) == 3
    assert all(r["size"] == rep["best"]["size"] for r in rep["baselines"]["random"])
    assert rep["baselines"]["whole_pool"]["size"] == rep["pool"]["candidates"]
    assert rep["best"]["f_holdout"] is not None and rep["initial"]["f_holdout"] is not None
    assert rep["balance"]["selected"]["examples"] == rep["best"]["size"]
    assert rep["best"]["f"] >= max(p["f"] for p in rep["trace"])


def test_holdout_line_compares_s_with_both_baselines(tuned):
    rep = tuned[1].report
    b, whole = rep["best"]["f_holdout"], rep["baselines"]["whole_pool"]
    line = holdout_line(rep)
    assert f"S {b:.4f}" in line and f"whole pool ({whole['size']} rows) {whole['f_holdout']:.4f}" in line
    assert f"random subsets of |S| {rep['baselines']['random_mean']['f_holdout']:.4f}" in line
    expected = "above" if b > whole["f_holdout"] else "level with" if b == whole["f_holdout"] else "below"
    assert line.endswith(f"S is {expected} the whole pool")
    worse = {**rep, "best": {**rep["best"], "f_holdout": whole["f_holdout"] - 0.01}}
    assert holdout_line(worse).endswith("S is below the whole pool")
    better = {**rep, "best": {**rep["best"], "f_holdout": whole["f_holdout"] + 0.01}}
    assert holdout_line(better).endswith("S is above the whole pool")
    # No random baseline (tune.random_seeds: 0), and a streaming run's loop on the views' fit sample.
    no_random = {**rep, "baselines": {**rep["baselines"], "random_mean": {"f": None, "f_holdout": None}}}
    assert "random" not in holdout_line(no_random)
    assert holdout_line({**better, "sample": {}}).endswith("S is above the fit sample")


def test_holdout_is_never_read_during_the_search(tuned):
    obj, _, holdout, _ = tuned
    hold = {ex.id for ex in holdout}
    seen = obj.proxy.seen
    first_holdout = next(i for i, s in enumerate(seen) if s & hold)
    assert all(not (s & hold) for s in seen[:first_holdout])
    assert all(s == hold for s in seen[first_holdout:]), "after the search, only holdout scoring"


def test_deterministic():
    pool, table, specs, val, cap = noisy_problem(n=200, n_val=120)
    reps = []
    for _ in range(2):
        tune_part, holdout = split_validation(val, 0.3, seed=0)
        obj = make_objective(pool, table, specs, tune_part, cap)
        r = run_loop(obj, holdout, initial_weights=EQUAL, initial_threshold=None,
                     **{**LOOP, "rounds": 1, "trials": 3})
        rep = dict(r.report)
        for key in ("seconds",):
            rep.pop(key)
        for p in rep["trace"] + rep["curve"]:
            p.pop("seconds")
        rep.pop("curves")
        reps.append(rep)
    assert reps[0] == reps[1]


def test_optuna_search_runs_and_is_seeded():
    pytest.importorskip("optuna")
    pool, table, specs, val, cap = noisy_problem(n=200, n_val=120)
    out = []
    for _ in range(2):
        obj = make_objective(pool, table, specs, val, cap)
        r = run_loop(obj, [], initial_weights=EQUAL, initial_threshold=None,
                     **{**LOOP, "rounds": 1, "trials": 4, "method": "optuna"})
        out.append(r.report["best"]["weights"])
        assert r.report["best"]["f_holdout"] is None, "no holdout part: nothing reported on it"
    assert out[0] == out[1]


def test_split_validation_is_stratified_and_disjoint():
    from tune_helpers import examples

    val, _ = examples(100, 5)
    a, b = split_validation(val, 0.3, seed=1)
    assert len(b) == 30 and not ({e.id for e in a} & {e.id for e in b})
    assert split_validation(val, 0.3, seed=1)[1] == b
    share = lambda xs: np.mean([e.label == "food" for e in xs])  # noqa: E731
    assert abs(share(a) - share(b)) < 0.06
    assert split_validation(val, 0.0, seed=1) == (val, [])


def test_a_loop_whose_views_all_hurt_says_it_does_not_beat_random():
    pool, table, specs, val, cap = noisy_problem()
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    only_anti = [s for s in specs if s.name == "anti"]  # the one view prefers the mislabelled rows
    obj = make_objective(pool, table, only_anti, tune_part, cap)
    rep = run_loop(obj, holdout, initial_weights={"anti": 1.0}, initial_threshold=None,
                   **{**LOOP, "rounds": 1, "trials": 2}).report
    assert rep["best"]["f"] < rep["baselines"]["random_mean"]["f"]
    assert rep["beats_random"] is False


def test_a_helpful_loop_beats_random(tuned):
    _, result, _, _ = tuned
    assert result.report["beats_random"] is True


def test_the_loop_chooses_among_strategies_and_skips_one_the_data_cannot_run():
    """Trusting the one view that prefers mislabelled rows (top by `anti`) is the worst choice; tried
    against it, random and active (margin sampling on the labels) both do better, and the loop writes
    the winner into the tuned config. Without labels active cannot run: it is skipped, not fatal."""
    from dataclasses import replace

    from sft_select.config.schema import Config
    from sft_select.tune.loop import tuned_config

    pool, table, specs, val, cap = noisy_problem()
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    only_anti = [s for s in specs if s.name == "anti"]
    loop = {**LOOP, "rounds": 1, "trials": 2}
    obj = make_objective(pool, table, only_anti, tune_part, cap)
    result = run_loop(obj, holdout, initial_weights={"anti": 1.0}, initial_threshold=None,
                      strategies=["random", "active"], **loop)
    rep = result.report
    tried = {p["label"]: p["f"] for p in rep["trace"] if p["phase"] == "strategy"}
    assert set(tried) == {"strategy=random", "strategy=active"}
    assert result.strategy in ("random", "active") and rep["strategy"] == result.strategy
    assert rep["best"]["f"] == max(tried.values()) > rep["initial"]["f"] + 0.05
    as_real_view = replace(result, weights={"quality_heuristic": 1.0})  # the config validates view names
    assert tuned_config(Config(), ["quality_heuristic"], as_real_view).select.strategy == result.strategy

    unlabelled = table.assign(label=None)
    obj = make_objective(pool, unlabelled, only_anti, tune_part, cap)
    result = run_loop(obj, holdout, initial_weights={"anti": 1.0}, initial_threshold=None,
                      strategies=["active", "random"], **loop)
    assert {p["label"] for p in result.report["trace"] if p["phase"] == "strategy"} == {"strategy=random"}
    assert result.strategy in ("top", "random")


def test_unknown_strategy_in_tune_config_is_rejected():
    """Checked by the whole Config against the strategy registry (the tune section alone, a schema leaf, does
    not import the strategies)."""
    from sft_select.config.schema import build_config
    from sft_select.core.errors import ConfigError
    from sft_select.tune.config import TuneConfig

    assert TuneConfig(strategies=["active", "coverage", "active"]).strategies == ["active", "coverage"]
    with pytest.raises(ConfigError, match="unknown"):
        build_config({"tune": {"strategies": ["best_one"]}})
