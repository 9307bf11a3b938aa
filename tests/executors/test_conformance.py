"""Executor conformance: every engine gives the same answers, bit for bit, through the Executor contract.

The same checks run over the local engine in this process (1 worker), the local engine with 2 forked
workers (`min_items` low enough that every map forks), and Ray (a local instance with 2 CPUs, started
once per session by conftest's `ray_local`; skipped when ray is not installed). The expected answers
are written out once, from their definitions (tests/executors/test_global_steps.py pins the local
engine against brute force), and every engine must give them.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from sft_select.executors import Executor, LocalExecutor, get_executor
from sft_select.executors.kernels import ALL_PAIRS_MAX

ENGINES = ["local-1", "local-2", "ray"]


@pytest.fixture(scope="module", params=ENGINES)
def executor(request):
    if request.param == "local-1":
        yield LocalExecutor(workers=1)
    elif request.param == "local-2":
        with LocalExecutor(workers=2, min_items=2) as local:  # its pool open for the module, as in a run
            yield local
    else:
        request.getfixturevalue("ray_local")
        from sft_select.executors.ray import RayExecutor

        yield RayExecutor()


def _column_fn():
    """A batch function whose answer depends on every item and on the batch's own length; nested, so Ray
    pickles it by value (its workers cannot import this test module)."""
    def columns(batch):
        x = np.asarray(batch, dtype=np.int64)
        return {"x2": x * 2, "batch_len": np.full(len(x), len(x), dtype=np.int64)}
    return columns


def _group_fn():
    def group_sums(cols, shared):
        return {"cum": np.cumsum(cols["x"]) + shared, "rank_in_group": np.arange(len(cols["x"]))}
    return group_sums


def test_is_an_executor(executor):
    assert isinstance(executor, Executor)
    assert isinstance(executor.shares_memory, bool) and isinstance(executor.remote_workers, bool)
    assert not (executor.shares_memory and executor.remote_workers)
    with executor as entered:  # a run opens its executor as a block
        assert entered is executor


@pytest.mark.parametrize("n,batch_size", [(0, 4), (1, 4), (103, 8), (64, 64)])
def test_map_batches_yields_every_batch_in_order(executor, n, batch_size):
    out = list(executor.map_batches(_column_fn(), list(range(n)), batch_size=batch_size, desc=""))
    got = {k: np.concatenate([o[k] for o in out]) if out else np.zeros(0, np.int64) for k in ("x2", "batch_len")}
    np.testing.assert_array_equal(got["x2"], np.arange(n) * 2)
    expected_len = [min(batch_size, n - s) for s in range(0, n, batch_size) for _ in range(min(batch_size, n - s))]
    np.testing.assert_array_equal(got["batch_len"], np.asarray(expected_len, dtype=np.int64))


def test_first_of_equal(executor):
    keys = np.array([[5, 1], [3, 0], [5, 1], [5, 2], [3, 0], [5, 1]], dtype=np.uint64)
    assert executor.first_of_equal(keys).tolist() == [0, 1, 0, 3, 1, 0]
    assert executor.first_of_equal(keys[:, 0].copy()).tolist() == [0, 1, 0, 0, 1, 0]
    assert executor.first_of_equal(np.zeros(0, np.uint64)).tolist() == []


def test_band_pairs(executor):
    big = ALL_PAIRS_MAX + 3  # one bucket past the all-pairs size: a star from its first row and a chain
    keys = np.arange(big + 4, dtype=np.uint64)[:, None].repeat(2, axis=1) + np.uint64(100)
    keys[:big, 1] = 7
    keys[big, 0] = keys[big + 2, 0] = 1  # a small bucket in band 0
    expected = {(0, m) for m in range(1, big)} | {(a, a + 1) for a in range(1, big - 1)} | {(big, big + 2)}
    got = executor.band_pairs(keys)
    assert got.dtype == np.int64
    assert [tuple(p) for p in got.tolist()] == sorted(expected)


def test_top_k(executor):
    scores = np.array([0.5, np.nan, 0.9, 0.5, 0.1, 0.9, 0.5])
    ids = np.array(["c", "a", "b", "a", "d", "a", "c"], dtype=object)
    assert executor.top_k(scores, ids=ids).tolist() == [5, 2, 3, 0, 6, 4]
    assert executor.top_k(scores, 3, ids=ids).tolist() == [5, 2, 3]
    assert executor.top_k(scores, threshold=0.5).tolist() == [2, 5, 0, 3, 6]


def test_apply_by_group(executor):
    groups = np.array([2, 0, 2, 1, 0, 2])
    out = executor.apply_by_group(_group_fn(), groups, {"x": np.array([1, 2, 3, 4, 5, 6])}, shared=10)
    assert out["cum"].tolist() == [11, 12, 14, 14, 17, 20]
    assert out["rank_in_group"].tolist() == [0, 0, 1, 0, 1, 2]


# -- the local engine's worker pool --------------------------------------------------------------------

def _pids(batch):
    return {"pid": np.full(len(batch), os.getpid(), dtype=np.int64)}


def test_two_local_workers_run_the_batches_in_forked_processes():
    with LocalExecutor(workers=2, min_items=2) as local:
        pids = np.concatenate([c["pid"] for c in local.map_batches(_pids, list(range(40)), batch_size=4)])
    assert len(set(pids.tolist())) == 2 and os.getpid() not in pids


def test_the_pool_is_open_only_while_the_executor_is():
    from sft_select.executors import pool

    local = LocalExecutor(workers=3, min_items=7)
    assert pool.current().workers == 1
    with local:
        assert pool.current() is local.pool and (pool.min_items(), pool.current().workers) == (7, 3)
        with local.serial():  # a step that keeps the other cores for a background worker
            assert local.pool.active() == 1 and pool.active() == 1
        assert local.pool.workers == 3
    assert pool.current().workers == 1


def test_get_executor_builds_the_configured_pool():
    from sft_select.config.schema import EngineConfig

    local = get_executor(EngineConfig(workers=3, parallel_min=500))
    assert isinstance(local, LocalExecutor) and (local.workers, local.min_items) == (3, 500)
