"""combine: per-view normalization to [0, 1], weights summing to 1 (rescaled or rejected), floors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.core.errors import ConfigError
from sft_select.selection.combine import ViewWeight, combine, normalize, resolve_weights

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=40),
       st.sampled_from(["rank", "minmax", "zscore"]), st.booleans())
def test_normalized_values_are_in_unit_interval_and_keep_order(values, method, higher):
    raw = np.array(values)
    out = normalize(raw, method, higher)
    ok = np.isfinite(raw)
    assert np.array_equal(np.isnan(out), ~ok)  # NaN stays NaN, nothing else becomes NaN
    assert np.all((out[ok] >= 0) & (out[ok] <= 1))
    sign = 1 if higher else -1
    a, b = raw[ok], out[ok]
    for i in range(len(a)):  # monotone: a better raw value never gets a lower score
        assert np.all(b[sign * a > sign * a[i]] >= b[i] - 1e-12)


def test_each_method_on_known_values():
    raw = np.array([1.0, 2.0, 2.0, 10.0, np.nan])
    np.testing.assert_allclose(normalize(raw, "rank")[:4], [0, 0.5, 0.5, 1])
    np.testing.assert_allclose(normalize(raw, "minmax")[:4], [0, 1 / 9, 1 / 9, 1])
    np.testing.assert_allclose(normalize(raw, "rank", higher_is_better=False)[:4], [1, 0.5, 0.5, 0])
    z = normalize(raw, "zscore")[:4]
    assert 0 < z[0] < z[1] == z[2] < 0.5 < z[3] < 1
    np.testing.assert_allclose(normalize(np.array([3.0, 3.0]), "minmax"), [1.0, 1.0])
    with pytest.raises(ConfigError, match="unknown normalization"):
        normalize(raw, "softmax")


def test_weights_sum_to_one():
    w = resolve_weights([ViewWeight("a", 2.0), ViewWeight("b", 6.0)])
    assert w == pytest.approx({"a": 0.25, "b": 0.75})
    w = resolve_weights([ViewWeight("a", 0.5), ViewWeight("b", None), ViewWeight("c", None)])
    assert w == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})
    assert resolve_weights([ViewWeight("a", None), ViewWeight("b", None)]) == pytest.approx({"a": 0.5, "b": 0.5})
    assert sum(resolve_weights([ViewWeight("a", 0.7), ViewWeight("b", 0.6), ViewWeight("c", None)]).values()) \
        == pytest.approx(1.0)


def test_strict_policy_rejects_weights_that_do_not_sum_to_one():
    weights = resolve_weights([ViewWeight("a", 0.4), ViewWeight("b", 0.6)], "strict")
    assert weights == pytest.approx({"a": 0.4, "b": 0.6})
    with pytest.raises(ConfigError, match="sum to"):
        resolve_weights([ViewWeight("a", 0.4), ViewWeight("b", 0.4)], "strict")
    with pytest.raises(ConfigError, match="sum to"):  # unset views cannot absorb an excess
        resolve_weights([ViewWeight("a", 0.7), ViewWeight("b", 0.6), ViewWeight("c", None)], "strict")
    with pytest.raises(ConfigError, match="all zero"):
        resolve_weights([ViewWeight("a", 0.0), ViewWeight("b", 0.0)])


def _table():
    return pd.DataFrame({
        "id": list("abcde"),
        "reason": [None, None, None, None, "dedup: exact"],
        "rel_raw": [0.9, 0.1, 0.5, 0.7, 100.0],
        "cost_raw": [5.0, 1.0, 3.0, np.nan, 0.0],  # lower is better
    })


def test_combined_score_is_the_weighted_sum_over_candidates_only():
    specs = [ViewWeight("rel", 0.75), ViewWeight("cost", 0.25, normalize="minmax", higher_is_better=False)]
    out, weights = combine(_table(), specs)
    assert weights == pytest.approx({"rel": 0.75, "cost": 0.25})
    # The dropped row's outlier (100.0) takes no part in the normalization.
    np.testing.assert_allclose(out["rel"][:4], [1, 0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(out["cost"][:3], [0, 1, 0.5])
    assert np.isnan(out.loc[3, "cost"]) and np.isnan(out.loc[3, "cost_contrib"])
    np.testing.assert_allclose(out["score"][:4], 0.75 * out["rel"][:4] + 0.25 * out["cost"][:4].fillna(0))
    assert np.isnan(out.loc[4, "score"]) and np.isnan(out.loc[4, "rel"])


def test_floor_vetoes_examples_below_it():
    specs = [ViewWeight("rel", 0.5, floor=0.5), ViewWeight("cost", 0.5, higher_is_better=False)]
    out, _ = combine(_table(), specs)
    assert out.loc[1, "reason"] == "floor: rel below 0.5" and out.loc[2, "reason"] == "floor: rel below 0.5"
    assert pd.isna(out.loc[0, "reason"]) and out.loc[4, "reason"] == "dedup: exact"
