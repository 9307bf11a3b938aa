"""The Ray engine gives the same dedup clusters, scores and selections as the local engine (local Ray
instance, 2 CPUs): per-example views on actor pools, and the global steps (exact and near dedup,
ranking, greedy within clusters) on Ray Data."""
from __future__ import annotations

import numpy as np
import pytest
from make_demo_data import make_pool

from conftest import write_file

pytest.importorskip("ray", reason="ray[data] is not installed")

# diversity writes the clusters the cluster greedy needs. relevance_embedding is left out because its
# float32 similarities differ in the last bit between the driver (multi-threaded BLAS) and Ray's
# single-threaded actors (reproduced locally under threadpoolctl's limit of 1 thread: 6 of 300 rows).
VIEWS = ["diversity"]  # one actor pool keeps the Ray part of the suite short


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ray_local):
    """One pipeline run per engine on a pool of 300 rows with exact and near duplicates."""
    import sft_select

    tmp = tmp_path_factory.mktemp("engines")
    pool = write_file(make_pool(300, seed=5)[0], tmp / "pool.jsonl")
    out = {}
    for engine in ("local", "ray"):
        cfg = sft_select.build_config({"select": {"n": 60}, "embedding": {"model": "hashing"},
                                       "views": {"use": VIEWS}, "engine": {"name": engine}})
        out[engine] = sft_select.run([pool], tmp / engine, cfg)
    return out, pool, cfg


def test_same_dedup_scores_and_top_n(runs):
    results, _, _ = runs
    local, ray_ = results["local"].table, results["ray"].table
    kinds = set(local["dup_kind"].dropna())
    assert {"exact", "near"} <= kinds  # the pool exercises both dedup steps
    assert local["dup_cluster"].tolist() == ray_["dup_cluster"].tolist()
    assert local["dup_kind"].tolist() == ray_["dup_kind"].tolist()
    np.testing.assert_array_equal(ray_.filter(like="_raw").to_numpy(), local.filter(like="_raw").to_numpy())
    assert len(results["local"].selected_ids) == 60
    assert results["ray"].selected_ids == results["local"].selected_ids
    assert ray_["reason"].tolist() == local["reason"].tolist()


@pytest.mark.parametrize("select", [{"threshold": None}, {"strategy": "greedy", "greedy_scope": "cluster",
                                                          "n": 60, "tau_div": 0.3}])
def test_same_threshold_and_cluster_greedy_selection(runs, select):
    """Selection re-run from each engine's scored table with that engine's executor (the pipeline's
    finalize step), for the strategies whose global step runs on the executor."""
    from sft_select.executors.local import LocalExecutor
    from sft_select.executors.ray import RayExecutor
    from sft_select.io.load import load
    from sft_select.pipelines.in_memory import weight_specs
    from sft_select.scoring.table import view_names
    from sft_select.selection.config import SelectConfig
    from sft_select.selection.finalize import finalize
    from sft_select.selection.strategies import Context

    results, pool, cfg = runs
    examples = load([pool]).examples
    if "threshold" in select:  # the local run's median score: some rows above, some below
        select = {"threshold": float(np.nanmedian(results["local"].table["score"]))}
    picked, reasons = {}, {}
    for engine, executor in (("local", LocalExecutor()), ("ray", RayExecutor())):
        table = results[engine].table
        out, _ = finalize(table, weight_specs(cfg, view_names(table)), SelectConfig(**select),
                          keep=cfg.preprocess.keep, weights_policy=cfg.combine.weights, seed=cfg.seed,
                          ctx=Context.of(examples, "hashing"), executor=executor)
        picked[engine] = out.loc[out["selected"], "id"].tolist()
        reasons[engine] = out["reason"].tolist()
    assert 0 < len(picked["local"]) < len(examples)
    assert picked["ray"] == picked["local"]
    assert reasons["ray"] == reasons["local"]
    if "greedy_scope" in select:
        assert any(isinstance(r, str) and r.startswith("too_similar") for r in reasons["local"])


def test_streaming_on_ray_equals_streaming_locally(tmp_path, ray_local):
    """The streaming engine with `--engine ray`: scores on actor pools, dedup grouping on Ray Data."""
    import sft_select

    pool = write_file(make_pool(300, seed=5)[0], tmp_path / "pool.jsonl")
    res = {}
    for engine in ("local", "ray"):
        cfg = sft_select.build_config({"select": {"n": 60}, "embedding": {"model": "hashing"},
                                       "views": {"use": VIEWS}, "report": {"enabled": False},
                                       "engine": {"name": engine, "streaming": "on", "chunk_size": 100}})
        res[engine] = sft_select.run([pool], tmp_path / engine, cfg)
    a, b = res["local"].table, res["ray"].table
    assert res["local"].selected_ids == res["ray"].selected_ids
    assert a["dup_kind"].fillna("").tolist() == b["dup_kind"].fillna("").tolist()
    assert (a["dup_kind"] == "near").any() and (a["dup_kind"] == "exact").any()
    assert (tmp_path / "local" / "selected.jsonl").read_bytes() == (tmp_path / "ray" / "selected.jsonl").read_bytes()
