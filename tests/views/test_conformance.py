"""The shared contract, run over EVERY registered view (views added later are picked up by themselves).

A view runs on the first generated data kind it does not skip. A view that cannot run on generated data
at all (it needs a model file) declares `conformance_skip` with the place its contract is tested instead.
"""
from __future__ import annotations

import numpy as np
import pytest

from sft_select.views.base import View, ViewResult
from sft_select.views.registry import _REGISTRY, register, registered
from views.viewdata import conformance_data, conformance_params


@pytest.mark.parametrize("name", sorted(registered()))
def test_view_contract(name, check_contract):
    cls = registered()[name]
    if cls.conformance_skip:
        pytest.skip(f"{name}: {cls.conformance_skip}")
    params = conformance_params(cls)
    for pool, target in conformance_data().values():
        if cls(**params).skip_reason(pool, target) is None:
            check_contract(name, params, pool, target)
            return
    pytest.fail(f"{name} skips every generated data kind; set conformance_params or declare conformance_skip")


@pytest.mark.parametrize("name", sorted(registered()))
def test_missing_inputs_are_skipped_with_a_reason(name):
    """A view whose needs are unmet says why instead of running (it is skipped, never faked)."""
    cls = registered()[name]
    view = cls(**conformance_params(cls))
    data = conformance_data()
    chat_pool, chat_target = data["chat"]
    text_pool, text_target = data["text"]
    if "target" in cls.needs:
        for pool in (chat_pool, text_pool):
            assert view.skip_reason(pool, None)
    if "labels" in cls.needs:
        assert view.skip_reason(chat_pool, chat_target)
    if "instruction" in cls.needs:
        assert view.skip_reason(text_pool, text_target)
    for reason in filter(None, [view.skip_reason(chat_pool, None), view.skip_reason(text_pool, None)]):
        assert name in reason or "needs" in reason


class _BatchDependent(View):
    """Scores relative to the batch mean: fine in one big batch, wrong one by one."""

    name = "test_batch_dependent"
    group = "quality"

    def __init__(self, *, offset: float = 0.0):
        self.offset = offset

    def score_batch(self, batch):
        lengths = np.array([len(ex.content) for ex in batch], dtype=float)
        return ViewResult(lengths - lengths.mean() + self.offset)


class _Unseeded(_BatchDependent):
    """Random scores that differ on every fit."""

    name = "test_unseeded"

    def fit(self, pool, target=None):
        self.noise_ = np.random.default_rng().random()
        return self

    def score_batch(self, batch):
        return ViewResult(np.full(len(batch), self.noise_))


@pytest.mark.parametrize("bad", [_BatchDependent, _Unseeded])
def test_contract_check_catches_broken_views(bad, check_contract):
    """The check must be able to fail: a batch-dependent or unseeded view does not pass it."""
    register(bad)
    try:
        pool, target = conformance_data()["chat"]
        with pytest.raises(AssertionError):
            check_contract(bad.name, {}, pool, target)
    finally:
        _REGISTRY.pop(bad.name, None)


def test_every_view_module_is_listed_in_the_registry():
    """A view registers when its module is imported; the registry imports the modules BUILTIN names."""
    from pathlib import Path

    from sft_select.views import registry

    folder = Path(registry.__file__).parent
    defining = {p.stem for p in folder.glob("*.py") if "\n@register\n" in p.read_text(encoding="utf-8")}
    assert defining == set(registry.BUILTIN)
