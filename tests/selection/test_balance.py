"""Balance helpers used by the proxy trainer and the tune report (sft_select.selection.balance)."""
from __future__ import annotations

from collections import Counter

import pytest

from sft_select.core.errors import ConfigError
from sft_select.selection.balance import class_weights, imbalance_report, resample


def test_report():
    r = imbalance_report(["a"] * 70 + ["b"] * 25 + ["c"] * 5 + [None])
    assert r["classes"] == 3 and r["examples"] == 100
    assert r["ratio_max_min"] == 14 and r["minority"] == ["c"]
    assert 0 < r["entropy_norm"] < 1
    assert imbalance_report(["a", "b"])["entropy_norm"] == 1.0


def test_class_weights_average_one():
    labels = ["a"] * 6 + ["b"] * 2
    w = class_weights(labels)
    assert w["b"] == 3 * w["a"]
    assert sum(w[lab] for lab in labels) / len(labels) == pytest.approx(1.0)


def test_resample_uniform_keeps_best_and_oversamples():
    ids = [f"a{i}" for i in range(8)] + ["b0", "b1"]
    labels = ["a"] * 8 + ["b"] * 2
    out = resample(ids, labels, "uniform", size=8, seed=0)
    c = Counter(x[0] for x in out)
    assert c == {"a": 4, "b": 4}
    assert [x for x in out if x[0] == "a"] == ["a0", "a1", "a2", "a3"], "the first (best) members stay"
    assert resample(ids, labels, "uniform", size=8, seed=0) == out
    capped = resample(ids, labels, "uniform", size=8, replace=False)
    assert Counter(x[0] for x in capped) == {"a": 4, "b": 2}


def test_resample_to_a_given_mix():
    ids = [str(i) for i in range(100)]
    labels = ["x"] * 50 + ["y"] * 50
    out = resample(ids, labels, {"x": 3, "y": 1}, size=40)
    assert Counter(labels[int(i)] for i in out) == {"x": 30, "y": 10}
    with pytest.raises(ConfigError, match="unknown class"):
        resample(ids, labels, {"z": 1.0})
