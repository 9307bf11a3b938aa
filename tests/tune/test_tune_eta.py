"""A tune says, before its first evaluation, how many it will make, then estimates the time once the first
is timed and updates the estimate as evaluations finish (tune/plan.py, tune/eta.py). The clock is a fake one
that the fake proxy advances: no assertion depends on this machine's speed."""
from __future__ import annotations

import pytest
from test_cli_tune import data, invoke
from tune_helpers import make_objective, noisy_problem

from sft_select.core.record import Example
from sft_select.evaluate.base import ProxyScore
from sft_select.tune.eta import EtaLines, duration
from sft_select.tune.evaluations import Evaluations
from sft_select.tune.loop import run_loop, split_validation
from sft_select.tune.plan import plan

EQUAL = {"clean": 1 / 3, "junk": 1 / 3, "anti": 1 / 3}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowProxy:
    """Takes `seconds` of the fake clock per evaluation; f is the share of S labelled like the first row."""

    name, metric = "slow", "accuracy"

    def __init__(self, clock: Clock, seconds: float):
        self._clock, self._seconds = clock, seconds

    def describe(self):
        return {"name": self.name}

    def evaluate(self, train, validation, seed=0):
        self._clock.now += self._seconds
        return ProxyScore(sum(ex.label == train[0].label for ex in train) / len(train), {}, len(train),
                          self._seconds)


def pool(n: int) -> dict[str, Example]:
    rows = [Example(id=f"e{i}", source="t", row=i, format="text_label", original={}, text=f"row {i}",
                    label="ab"[i % 2]) for i in range(n)]
    return {ex.id: ex for ex in rows}


def test_the_first_evaluation_gives_the_estimate_and_later_lines_update_it(tmp_path):
    clock, lines = Clock(), []
    examples = pool(40)
    ids = sorted(examples)
    steps = []
    progress = EtaLines(10, clock=clock, say=lines.append, every=5.0, advance=steps.append)
    evals = Evaluations(cache_dir=tmp_path, progress=progress, clock=clock)
    proxy = SlowProxy(clock, 30.0)
    val = list(examples.values())[:5]
    evals.score(proxy, ids[:10], examples, val, part="tune", seed=0)
    assert lines == [f"tune: the first evaluation took 30 s; about {duration(9 * 30)} for the 9 left "
                     "(an estimate, updated as evaluations finish)"]
    evals.score(proxy, ids[:10], examples, val, part="tune", seed=0)  # a repeat: free, and the rate learns it
    assert progress.left() == pytest.approx(8 * 15.0)
    evals.score(proxy, ids[:20], examples, val, part="tune", seed=0)
    assert lines[-1] == f"tune: 3/10 evaluations, {duration(60)} so far, about {duration(7 * 20)} left (estimate)"
    assert evals.computed == 2 and evals.requests == {"tune": 3}
    assert steps == [1, 1, 1], "the bar over the evaluations advances once per step, a repeat included"

    # Run again over the same cache: the recorded times estimate before anything is computed.
    clock2, lines2 = Clock(), []
    progress2 = EtaLines(10, clock=clock2, say=lines2.append, every=0.0)
    again = Evaluations(cache_dir=tmp_path, progress=progress2, clock=clock2)
    again.score(SlowProxy(clock2, 30.0), ids[:10], examples, val, part="tune", seed=0)
    assert again.reused == 1 and again.computed == 0 and clock2.now == 1000.0
    assert lines2 == [f"tune: 1/10 evaluations (1 reused), {duration(0)} so far, about {duration(9 * 30)} left "
                      "(estimate)"]
    assert progress2.summary() == (f"tune: 1 evaluations in {duration(0)}; 1 reused from the cache of an earlier "
                                   "tune, 0 computed")


def test_a_fast_tune_prints_no_line_per_evaluation():
    clock, lines = Clock(), []
    progress = EtaLines(50, clock=clock, say=lines.append, every=5.0)
    for _ in range(40):
        clock.now += 0.1
        progress.finished(0.1, how="computed")
    assert len(lines) == 1 and lines[0].startswith("tune: the first evaluation took 0.1 s")


@pytest.mark.parametrize("settings", [
    dict(rounds=2, trials=3, shares=[0.5, 1.0], random_seeds=2, guard=True, min_rows_weights=0),
    dict(rounds=1, trials=0, shares=[0.25, 0.5, 1.0], random_seeds=3, guard=False, min_rows_weights=0),
    dict(rounds=3, trials=2, shares=[1.0], random_seeds=1, guard=True, min_rows_weights=10_000),  # τ only
    dict(rounds=1, trials=2, shares=[0.5, 1.0], random_seeds=1, guard=True, min_rows_weights=0,
         strategies=["random", "coverage"], grids={"top": {}, "coverage": {"coverage.trim": [0.0, 0.2]}}),
])
def test_the_plan_counts_what_the_loop_asks_for(settings):
    """The count printed before the first evaluation is what the loop asks for: every point of the search
    (repeats included: they cost nothing but are steps of the plan) and every distinct subset on the holdout."""
    p, table, specs, val, cap = noisy_problem(n=200, n_val=150)
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    obj = make_objective(p, table, specs, tune_part, cap)
    loop = {k: v for k, v in settings.items() if k not in ("guard",)}
    planned = plan(obj, holdout=len(holdout), guard=settings["guard"],
                   **{k: v for k, v in loop.items() if k in ("rounds", "trials", "shares", "random_seeds",
                                                             "strategies", "grids", "min_rows_weights")})
    result = run_loop(obj, holdout, initial_weights=EQUAL, initial_threshold=None, method="dirichlet", alpha=1.0,
                      seed=0, guard_on=settings["guard"], **loop)
    distinct_holdout = sum(1 for part, _ in obj.evals._memo if part == "holdout")
    # The plan counts the configured and the tuned S apart; when the loop keeps the configured one, they are one.
    kept = set(obj.subset(EQUAL, None)) == set(obj.subset(result.weights, result.threshold))
    assert planned.total == obj.evals.requests["tune"] + distinct_holdout + int(kept)
    assert obj.evals.distinct <= planned.total


def test_the_plan_line_comes_before_the_first_evaluation(tmp_path, monkeypatch):
    """Through `run --validation`: the count line is printed before the proxy is first called, and the
    estimate line right after the first evaluation; a bar over the plan's evaluations runs meanwhile."""
    import sys
    from contextlib import contextmanager

    import sft_select.tune.loop as loop

    bars = []

    @contextmanager
    def bar(desc, total):
        bars.append({"desc": desc, "total": total, "done": 0})
        yield lambda n: bars[-1].update(done=bars[-1]["done"] + n)

    monkeypatch.setattr(loop, "progress_bar", bar)

    built = loop.build_proxy

    def announcing(*args, **kwargs):
        proxy = built(*args, **kwargs)
        inner = proxy.evaluate

        def evaluate(*a, **k):
            sys.stderr.write("<evaluation>\n")
            return inner(*a, **k)

        proxy.evaluate = evaluate
        return proxy

    monkeypatch.setattr(loop, "build_proxy", announcing)
    pool_file, val, target, cfg = data(tmp_path)
    code, output = invoke("run", pool_file, "--target", target, "--validation", val, "-n", 50, "--config", cfg,
                          "--out", tmp_path / "run")
    assert code == 0, output
    said = [line for line in output.splitlines() if line.startswith(("tune:", "<evaluation>"))]
    assert said[0].startswith("tune: up to ") and " evaluations of the logreg proxy" in said[0]
    assert said[1] == "<evaluation>" and said[2].startswith("tune: the first evaluation took ")
    (shown,) = bars
    assert shown["desc"] == "tune: logreg proxy evaluations" and f"up to {shown['total']} evaluations" in said[0]
    assert 0 < shown["done"] <= shown["total"]
