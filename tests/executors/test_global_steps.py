"""The global steps' contract: the local executor against a brute-force definition, and the Ray executor
(a local instance with 2 CPUs) against the local one, bit for bit, on inputs with planted ties."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from sft_select.executors.kernels import ALL_PAIRS_MAX as _ALL_PAIRS_MAX
from sft_select.executors.local import LocalExecutor

LOCAL = LocalExecutor()
SIZES = (0, 1, 2, 300)


def planted_keys(n: int, width: int, seed: int) -> np.ndarray:
    """Random 64-bit words, a third of the rows copying another row's key; one word alone never decides."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**63, size=(n, width), dtype=np.uint64)
    if n > 2:
        keys[rng.integers(0, n, n // 3)] = keys[rng.integers(0, n, n // 3)]
        if width > 1:
            keys[-1, 0], keys[-1, 1:] = keys[0, 0], keys[0, 1:] + np.uint64(1)  # same first word, other key
    return keys if width > 1 else keys[:, 0]


def planted_bands(n: int, seed: int) -> np.ndarray:
    """Band keys from a small alphabet (many shared buckets), one bucket larger than _ALL_PAIRS_MAX."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, max(2, n // 8), size=(n, 5)).astype(np.uint64)
    if n > _ALL_PAIRS_MAX + 5:
        keys[: _ALL_PAIRS_MAX + 5, 2] = np.uint64(7)
    return keys


def planted_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores with ties (10 levels), NaNs, and ids with repeats so that position must break some ties."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 10, n) / 10.0
    scores[rng.random(n) < 0.1] = np.nan
    ids = np.array([f"id{rng.integers(0, max(1, n // 3)):03d}" for _ in range(n)], dtype=object)
    return scores, ids


def make_group_fn():
    """A group function whose answer depends on row order inside the group and on `shared`; nested, so
    Ray pickles it by value (workers cannot import this test module)."""
    def group_sums(cols, shared):
        return {"cum": np.cumsum(cols["x"]) + shared, "rank_in_group": np.arange(len(cols["x"]))}
    return group_sums


# -- local executor against the definitions ------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("width", [1, 2])
def test_first_of_equal_is_the_first_row_with_that_key(n, width):
    keys = planted_keys(n, width, seed=n + width)
    first: dict = {}
    expected = [first.setdefault(tuple(np.atleast_1d(k).tolist()), i) for i, k in enumerate(keys)]
    assert LOCAL.first_of_equal(keys).tolist() == expected


@pytest.mark.parametrize("n", SIZES)
def test_band_pairs_are_all_pairs_of_small_buckets_and_a_star_and_chain_of_large_ones(n):
    keys = planted_bands(n, seed=n)
    expected = set()
    for b in range(keys.shape[1]):
        buckets: dict = {}
        for i, k in enumerate(keys[:, b].tolist()):
            buckets.setdefault(k, []).append(i)
        for members in buckets.values():
            if len(members) <= _ALL_PAIRS_MAX:
                expected |= set(combinations(members, 2))
            else:
                expected |= {(members[0], m) for m in members[1:]} | set(zip(members[1:-1], members[2:]))
    got = LOCAL.band_pairs(keys)
    assert got.dtype == np.int64 and got.shape[1] == 2
    assert [tuple(p) for p in got.tolist()] == sorted(expected)


@pytest.mark.parametrize("n", SIZES)
def test_top_k_is_score_desc_then_id_then_position(n):
    scores, ids = planted_scores(n, seed=n)
    frame = pd.DataFrame({"score": scores, "id": ids}).dropna()
    expected = frame.sort_values(["score", "id"], ascending=[False, True], kind="mergesort").index.to_numpy()
    assert LOCAL.top_k(scores, ids=ids).tolist() == expected.tolist()
    assert LOCAL.top_k(scores, 5, threshold=0.5).tolist() == [i for i in np.argsort(-np.nan_to_num(scores, nan=-1),
                                                                                     kind="stable")
                                                               if scores[i] >= 0.5][:5]


def test_apply_by_group_sees_each_group_in_row_order():
    groups = np.array([2, 0, 2, 1, 0, 2])
    group_sums = make_group_fn()
    out = LOCAL.apply_by_group(group_sums, groups, {"x": np.array([1, 2, 3, 4, 5, 6])}, shared=10)
    assert out["cum"].tolist() == [11, 12, 14, 14, 17, 20]
    assert out["rank_in_group"].tolist() == [0, 0, 1, 0, 1, 2]
    assert LOCAL.apply_by_group(group_sums, np.zeros(0, int), {"x": np.zeros(0)}, shared=0) == {}


# -- the Ray executor gives the same answers -----------------------------------------------------------

@pytest.fixture(scope="module")
def ray_executor(ray_local):
    from sft_select.executors.ray import RayExecutor

    return RayExecutor()


@pytest.mark.parametrize("n", [0, 1, 300])
def test_ray_first_of_equal_equals_local(ray_executor, n):
    keys = planted_keys(n, 2, seed=7 + n)
    np.testing.assert_array_equal(ray_executor.first_of_equal(keys), LOCAL.first_of_equal(keys))


@pytest.mark.parametrize("n", [0, 1, 300])
def test_ray_band_pairs_equal_local(ray_executor, n):
    keys = planted_bands(n, seed=11 + n)
    local = LOCAL.band_pairs(keys)
    assert n < 300 or len(local) > 100  # the planted buckets give pairs, the big one a star and a chain
    np.testing.assert_array_equal(ray_executor.band_pairs(keys), local)


@pytest.mark.parametrize("n", [0, 1, 300])
def test_ray_top_k_equals_local(ray_executor, n):
    scores, ids = planted_scores(n, seed=13 + n)
    np.testing.assert_array_equal(ray_executor.top_k(scores, ids=ids), LOCAL.top_k(scores, ids=ids))
    np.testing.assert_array_equal(ray_executor.top_k(scores, 17, threshold=0.4), LOCAL.top_k(scores, 17, threshold=0.4))


def test_ray_apply_by_group_equals_local(ray_executor):
    rng = np.random.default_rng(3)
    groups, x = rng.integers(0, 6, 200), rng.integers(0, 100, 200)
    group_sums = make_group_fn()
    local = LOCAL.apply_by_group(group_sums, groups, {"x": x}, shared=5)
    ray_out = ray_executor.apply_by_group(group_sums, groups, {"x": x}, shared=5)
    assert set(ray_out) == set(local)
    for name in local:
        np.testing.assert_array_equal(ray_out[name], local[name])
