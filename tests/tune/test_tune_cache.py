"""The tune caches each proxy evaluation under the run (tune/evaluations.py): a killed tune, run again, reuses
what it finished and says so; the key holds everything that changes a result; a warm cache changes nothing
of tune.json or the tuned config."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml
from test_cli_tune import data, invoke
from tune_helpers import make_objective, noisy_problem

from sft_select.core.record import Example
from sft_select.evaluate.proxy_classifier import LogRegProxy
from sft_select.tune.evaluations import Evaluations
from sft_select.tune.loop import run_loop, split_validation

LOOP = dict(rounds=2, trials=3, method="dirichlet", alpha=1.0, shares=[0.5, 1.0], random_seeds=2, seed=0)
EQUAL = {"clean": 1 / 3, "junk": 1 / 3, "anti": 1 / 3}


class Counting:
    """A real proxy that counts its fits, and stops the process (Ctrl-C) at fit `stop_at`. Its own arguments
    are kept private: they are not the proxy's configuration, which is the wrapped one's (`describe`)."""

    def __init__(self, inner, stop_at: int | None = None):
        self._inner, self.name, self.metric, self.fits, self._stop_at = inner, inner.name, inner.metric, 0, stop_at

    def describe(self):
        return self._inner.describe()

    def evaluate(self, train, validation, seed=0):
        if self._stop_at is not None and self.fits == self._stop_at:
            raise KeyboardInterrupt
        self.fits += 1
        return self._inner.evaluate(train, validation, seed)


@pytest.fixture(scope="module")
def problem():
    pool, table, specs, val, cap = noisy_problem(n=300, n_val=200)
    tune_part, holdout = split_validation(val, 0.4, seed=0)
    return pool, table, specs, tune_part, holdout, cap


def tune(problem, cache_dir, proxy):
    pool, table, specs, tune_part, holdout, cap = problem
    obj = make_objective(pool, table, specs, tune_part, cap, proxy=proxy)
    obj = replace(obj, evals=Evaluations(cache_dir=cache_dir))
    return obj, run_loop(obj, holdout, initial_weights=EQUAL, initial_threshold=None, **LOOP)


def stable(report: dict) -> dict:
    """tune.json without what differs between two invocations by nature: wall times and the reuse count."""
    if isinstance(report, dict):
        return {k: stable(v) for k, v in report.items() if k not in ("seconds", "evaluations_reused")}
    if isinstance(report, list):
        return [stable(v) for v in report]
    return report


def test_a_stopped_tune_reuses_its_finished_evaluations_and_gives_the_same_result(problem, tmp_path):
    cache = tmp_path / "cache" / "tune"
    _, cold = tune(problem, None, Counting(LogRegProxy(embedder="hashing", C=2.0)))  # no cache at all
    with pytest.raises(KeyboardInterrupt):
        tune(problem, cache, Counting(LogRegProxy(embedder="hashing", C=2.0), stop_at=7))
    assert len(list(cache.glob("*.json"))) == 7, "each finished evaluation is on disk, the stopped one is not"
    assert not list(cache.glob(".*")), "no temp file left: writes are atomic"

    proxy = Counting(LogRegProxy(embedder="hashing", C=2.0))
    obj, resumed = tune(problem, cache, proxy)
    assert obj.evals.reused == 7 and proxy.fits == obj.evals.distinct - 7
    assert resumed.report["evaluations_reused"] == 7
    proxy = Counting(LogRegProxy(embedder="hashing", C=2.0))
    obj, warm = tune(problem, cache, proxy)
    assert proxy.fits == 0 and obj.evals.reused == obj.evals.distinct == cold.report["evaluations"]
    for result in (resumed, warm):
        assert stable(result.report) == stable(cold.report)
        assert (result.weights, result.threshold, result.guard) == (cold.weights, cold.threshold, cold.guard)


def test_the_key_holds_everything_that_changes_a_result(problem, tmp_path):
    pool, _, _, tune_part, _, _ = problem
    by_id = {ex.id: ex for ex in pool}
    ids = [ex.id for ex in pool[:60]]
    evals = Evaluations(cache_dir=tmp_path)
    logreg = LogRegProxy(embedder="hashing", C=2.0)

    def key(proxy=logreg, ids=ids, examples=by_id, validation=tune_part, part="tune", seed=0):
        return json.dumps(evals.key_parts(proxy, [examples[i] for i in sorted(ids)], validation, part=part,
                                          seed=seed), sort_keys=True, default=str)

    base = key()
    assert key() == base and key(proxy=LogRegProxy(embedder="hashing", C=2.0)) == base
    a = pool[0]
    edited = Example(id=a.id, source=a.source, row=a.row, format=a.format, original=a.original,
                     text=a.text + "  ", label=a.label)  # same id (ids hash normalized text), other content
    others = [key(proxy=LogRegProxy(embedder="hashing", C=3.0)), key(proxy=LogRegProxy(embedder="static-minilm")),
              key(ids=ids[1:]), key(examples={**by_id, a.id: edited}), key(validation=tune_part[1:]),
              key(part="holdout"), key(seed=1)]
    assert base not in others and len(set(others)) == len(others)


def test_a_damaged_entry_is_computed_again_and_replaced(problem, tmp_path):
    pool, _, _, tune_part, _, _ = problem
    by_id = {ex.id: ex for ex in pool}
    ids = [ex.id for ex in pool[:80]]
    proxy = Counting(LogRegProxy(embedder="hashing", C=2.0))
    first = Evaluations(cache_dir=tmp_path).score(proxy, ids, by_id, tune_part, part="tune", seed=0)
    (entry,) = tmp_path.glob("*.json")
    for damage in ("{not json", json.dumps({"key": "another", "value": 0.5})):
        entry.write_text(damage)
        again = Evaluations(cache_dir=tmp_path)
        score = again.score(proxy, ids, by_id, tune_part, part="tune", seed=0)
        assert again.computed == 1 and again.reused == 0 and score.value == first.value
    reread = Evaluations(cache_dir=tmp_path)
    score = reread.score(proxy, ids, by_id, tune_part, part="tune", seed=0)
    assert reread.reused == 1 and score.value == first.value and score.metrics == first.metrics
    assert (score.per_row == first.per_row).all() and proxy.fits == 3


def test_run_with_validation_rerun_reuses_the_tune_and_writes_the_same(tmp_path):
    """`run --validation` caches under RUN_DIR/cache/tune; a re-run (here --force, which keeps the cache) says
    how many it reused and writes the same tune.json and tuned config."""
    pool, val, target, cfg = data(tmp_path)
    out = tmp_path / "run"
    args = ("run", pool, "--target", target, "--validation", val, "-n", 50, "--config", cfg, "--out", out)
    code, output = invoke(*args)
    assert code == 0, output
    first, tuned = json.loads((out / "tune.json").read_text()), (out / "tuned-config.yaml").read_text()
    n = len(list((out / "cache" / "tune").glob("*.json")))
    assert n == first["evaluations"] > 0 and first["evaluations_reused"] == 0
    code, output = invoke(*args, "--force")
    assert code == 0, output
    again = json.loads((out / "tune.json").read_text())
    assert again["evaluations_reused"] == n and f"{n} reused from the cache" in " ".join(output.split())
    assert stable(again) == stable(first) and (out / "tuned-config.yaml").read_text() == tuned
    # `tune` on the run reads the same cache
    code, output = invoke("tune", out, "--validation", val)
    assert code == 0, output
    assert json.loads((out / "tune.json").read_text())["evaluations_reused"] == n


def test_a_linked_tune_cache_is_refused(tmp_path):
    pool, val, target, cfg = data(tmp_path)
    out = tmp_path / "run"
    code, output = invoke("run", pool, "--target", target, "-n", 50, "--config", cfg, "--out", out)
    assert code == 0, output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "cache" / "tune").symlink_to(elsewhere)
    code, output = invoke("tune", out, "--validation", val)
    assert code == 2 and "symlink" in output and not list(elsewhere.iterdir())
    assert yaml.safe_load(cfg.read_text())  # the user's files untouched


def test_the_lm_proxys_base_loss_is_cached_like_an_evaluation(problem, tmp_path):
    """The LM proxy's untrained loss on the holdout (its floor in tune.json) costs a pass over the rows: cached
    too, under its own key."""
    _, _, _, tune_part, holdout, _ = problem

    class WithBase:
        name, metric = "lm-like", "-loss"

        def __init__(self):
            self.passes = 0

        def describe(self):
            return {"name": self.name}

        def base_loss(self, validation, seed=0):
            self.passes += 1
            return 2.5 + len(validation) / 1000

    proxy = WithBase()
    first = Evaluations(cache_dir=tmp_path)
    loss = first.base_loss(proxy, holdout, part="holdout", seed=0)
    assert first.base_loss(proxy, holdout, part="holdout", seed=0) == loss and proxy.passes == 1
    again = Evaluations(cache_dir=tmp_path)
    assert again.base_loss(proxy, holdout, part="holdout", seed=0) == loss and proxy.passes == 1
    assert again.reused == 1
    other = Evaluations(cache_dir=tmp_path)
    assert other.base_loss(proxy, tune_part, part="tune", seed=0) != loss and proxy.passes == 2
