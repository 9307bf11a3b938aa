"""The guard: a run never writes a selection its own holdout says is worse than random subsets of its size."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tune_helpers import make_objective, noisy_problem

from sft_select.tune.guard import Candidate, decide, verdict_line
from sft_select.tune.loop import run_loop, split_validation

LOOP = dict(rounds=1, trials=4, method="dirichlet", alpha=1.0, shares=[0.5, 1.0], random_seeds=3, seed=0)


def rows(p: float, n: int = 400, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_every_candidate_planted_worse_than_random_falls_back_to_the_stratified_sample():
    randoms = [Candidate(f"r{k}", ["x"], None, rows(0.8, seed=k)) for k in range(3)]
    for r in randoms:
        r.f = float(r.per_row.mean())
    worse = [Candidate(name, ["x"], None, rows(0.6, seed=10 + i)) for i, name in enumerate(("tuned", "configured",
                                                                                              "stratified"))]
    for c in worse:
        c.f = float(c.per_row.mean())
    g = decide(worse, randoms, Candidate("whole pool", ["x", "y"], 0.82, rows(0.82, seed=9)))
    assert g["decision"] == "stratified"
    assert "no candidate beats random" in g["reason"]
    assert not any(c["beats_random"] for c in g["candidates"])
    assert g["whole_pool"]["f_holdout"] == 0.82 and g["random"]["seeds"] == 3
    line = verdict_line(g, "logreg")
    assert "random subsets of |S|" in line and "whole pool 0.8200" in line


def test_a_gain_within_the_noise_is_not_a_win():
    """A candidate above random on the mean but inside the bootstrap's interval does not count as beating it."""
    base = rows(0.7, seed=1)
    randoms = [Candidate("r", ["x"], float(base.mean()), base)]
    near = base.copy()
    near[np.flatnonzero(near == 0)[:2]] = 1.0  # two rows better out of 400
    g = decide([Candidate("tuned", ["x"], float(near.mean()), near)], randoms, None)
    assert g["candidates"][0]["vs_random"] > 0 and not g["candidates"][0]["beats_random"]
    assert g["decision"] == "stratified"


def test_a_clear_win_keeps_the_tuned_selection_and_the_preference_order():
    base = rows(0.6, seed=2)
    better = np.maximum(base, rows(0.5, seed=3))
    cands = [Candidate("configured", ["x"], float(better.mean()), better),
             Candidate("tuned", ["x"], float(better.mean()), better)]
    g = decide(cands, [Candidate("r", ["x"], float(base.mean()), base)], None)
    assert g["decision"] == "tuned" and g["candidates"][1]["low"] > 0


def test_without_per_row_outcomes_s_must_beat_every_random_subset():
    g = decide([Candidate("tuned", ["x"], 0.55)], [Candidate("r1", ["x"], 0.5), Candidate("r2", ["x"], 0.56)], None)
    assert g["decision"] == "stratified" and "every random subset" in g["method"]


def test_the_loop_keeps_a_tuned_selection_that_truly_beats_random():
    """A pool with 40% flipped labels and a view that knows which: S beats random on the holdout, and is kept."""
    pool, table, specs, val, cap = noisy_problem()
    tune_part, holdout = split_validation(val, 0.5, seed=0)
    rep = run_loop(make_objective(pool, table, specs, tune_part, cap), holdout,
                   initial_weights={"clean": 1 / 3, "junk": 1 / 3, "anti": 1 / 3}, initial_threshold=None,
                   **LOOP).report
    g = rep["guard"]
    assert g["decision"] == "tuned", g
    tuned = next(c for c in g["candidates"] if c["name"] == "tuned")
    assert tuned["beats_random"] and tuned["low"] > 0
    assert {c["name"] for c in g["candidates"]} == {"tuned", "configured", "stratified"}


def test_the_loop_falls_back_when_every_view_prefers_the_mislabelled():
    pool, table, specs, val, cap = noisy_problem()
    table = table.drop(columns=["clean_raw"])
    specs = [s for s in specs if s.name != "clean"]
    tune_part, holdout = split_validation(val, 0.5, seed=0)
    rep = run_loop(make_objective(pool, table, specs, tune_part, cap), holdout,
                   initial_weights={"junk": 0.5, "anti": 0.5}, initial_threshold=None, **LOOP).report
    g = rep["guard"]
    assert g["decision"] == "stratified", g
    assert not next(c for c in g["candidates"] if c["name"] == "tuned")["beats_random"]


@pytest.mark.parametrize("validation", [True, False])
def test_every_run_says_how_s_compares_with_random(tmp_path, validation):
    """The manifest's guard section and the terminal line exist with and without a validation file."""
    from tune_helpers import examples
    from typer.testing import CliRunner

    from sft_select.cli.app import app

    pool, _ = examples(200, seed=1, flip=0.3)
    val, _ = examples(120, seed=2, prefix="v")
    for name, rows_ in (("pool", pool), ("val", val)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(ex.original) + "\n" for ex in rows_))
    args = ["run", str(tmp_path / "pool.jsonl"), "--fraction", "0.3", "--out", str(tmp_path / "run"),
            "--embedder", "hashing"]
    if validation:
        args += ["--validation", str(tmp_path / "val.jsonl")]
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    guard = json.loads((tmp_path / "run" / "manifest.json").read_text())["guard"]
    flat = " ".join(r.output.split())
    if validation:
        assert guard["decision"] in ("tuned", "configured", "stratified")
        assert "guard (logreg proxy, holdout)" in flat
        tune = json.loads((tmp_path / "run" / "tune.json").read_text())
        assert tune["guard"] == guard
        if guard["decision"] == "stratified":
            cfg = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]
            assert cfg["select"]["strategy"] == "stratified"
    else:
        assert guard["decision"] is None and "no validation file" in guard["reason"]
        assert "no validation file" in flat
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="guard"' in html
