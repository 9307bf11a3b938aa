"""`check_contract`: the shared estimator-contract check, a fixture so that the tests of views that need
a model file (quality_model, quality_reward) run the same checks as tests/views/test_conformance.py."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.executors.local import LocalExecutor
from sft_select.scoring.driver import score_view
from sft_select.views.base import GROUPS, ViewResult
from sft_select.views.registry import build, registered


def _same(a: ViewResult, b: ViewResult, what: str) -> None:
    # float32 models (reward models) differ by ~1e-7 between batch shapes; anything larger is a real bug
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=what)
    n = len(a.raw)
    assert (a.reasons or [None] * n) == (b.reasons or [None] * n), what
    assert set(a.extra or {}) == set(b.extra or {}), what
    for key in a.extra or {}:
        x, y = a.extra[key], b.extra[key]
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=f"{what}: {key}")
        else:
            assert x.tolist() == y.tolist(), f"{what}: {key}"


def _concat(parts: list[ViewResult]) -> ViewResult:
    extra = {k: np.concatenate([p.extra[k] for p in parts]) for k in (parts[0].extra or {})}
    reasons = [r for p in parts for r in (p.reasons or [None] * len(p.raw))]
    return ViewResult(np.concatenate([p.raw for p in parts]), reasons, extra or None)


def _check_contract(name: str, params: dict, pool: list[Example], target: list[Example] | None) -> ViewResult:
    cls = registered()[name]
    assert cls.name == name and cls.group in GROUPS and isinstance(cls.higher_is_better, bool)
    assert cls.needs <= {"target", "labels", "instruction"}

    # Parameters: the constructor only stores them, and they round-trip through get/set_params and build.
    view = build(name, params)
    assert not [a for a in vars(view) if a.endswith("_") and not a.startswith("_")], "state set before fit"
    assert view.get_params() == {**cls.param_defaults(), **params}
    assert type(view)(**view.get_params()).get_params() == view.get_params()
    assert cls().set_params(**view.get_params()).get_params() == view.get_params()
    assert build(name, view.get_params()).non_default_params() == view.non_default_params()
    with pytest.raises(ConfigError):
        build(name, {**params, "no_such_parameter": 1})
    view = pickle.loads(pickle.dumps(view))  # an unfitted view travels to a worker and is fitted there

    assert view.skip_reason(pool, target) is None
    assert view.fit(pool, target) is view
    whole = view.score_batch(pool)
    assert isinstance(whole, ViewResult) and whole.raw.shape == (len(pool),)
    assert np.all(np.isfinite(whole.raw) | np.isnan(whole.raw))
    assert np.isfinite(whole.raw).any(), "a view must score the data it did not skip"
    assert whole.reasons is None or len(whole.reasons) == len(pool)

    _same(whole, _concat([view.score_batch([ex]) for ex in pool]), "batch vs one by one")
    _same(whole, score_view(build(name, params), pool, target, LocalExecutor(), batch_size=7), "scoring driver")
    _same(whole, build(name, params).fit(pool, target).score_batch(pool), "refit with the same seed")
    _same(whole, pickle.loads(pickle.dumps(view)).score_batch(pool), "pickled fitted view")
    return whole


@pytest.fixture
def check_contract():
    return _check_contract
