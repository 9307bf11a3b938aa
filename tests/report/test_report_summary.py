import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sft_select.report.embedmap import stratified_sample
from sft_select.report.rundata import open_run
from sft_select.report.summary import build_summary
from sft_select.report.tune import read_tune
from sft_select.report.viewstats import correlation, histogram


def test_summary_json_is_written_and_strict_json(demo_run):
    s = json.loads((demo_run / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert s["schema"] == 1
    table = pd.read_parquet(demo_run / "scores.parquet")
    assert s["funnel"]["selected"] == int(table["selected"].sum()) == 60
    assert s["funnel"]["consistent"]
    assert s["funnel"]["stages"][0]["count"] == len(table)
    assert {v["name"] for v in s["views"]} >= {"quality_heuristic", "relevance_embedding"}
    for section in ("funnel", "views", "correlation", "map", "coverage", "manifest", "score"):
        assert s[section], section


def test_histograms_count_every_scored_row(demo_run):
    s = json.loads((demo_run / "summary.json").read_text())
    table = pd.read_parquet(demo_run / "scores.parquet")
    for v in s["views"]:
        h = v["hist"]
        assert sum(h["selected"]) == int(table["selected"].sum())
        assert sum(h["selected"]) + sum(h["other"]) == int(table[f"{v['name']}_raw"].notna().sum())


def test_top_and_bottom_are_distinct_candidates_in_order(demo_run):
    s = json.loads((demo_run / "summary.json").read_text())
    for v in s["views"]:
        top = v["top"]
        assert len({r["id"] for r in top}) == len(top) == 5
        assert all(r["status"] not in ("duplicate", "filtered") for r in top + v["bottom"])
        norms = [r["norm"] for r in top]
        assert norms == sorted(norms, reverse=True)
        assert top[0]["norm"] >= v["bottom"][0]["norm"]
        assert all(r["snippet"] for r in top)


def test_coverage_totals_and_tokens(demo_run):
    cov = json.loads((demo_run / "summary.json").read_text())["coverage"]
    t = cov["totals"]
    assert t["pool"]["examples"] == 400 and t["selected"]["examples"] == 60
    assert t["pool"]["tokens"] > t["candidates"]["tokens"] > t["selected"]["tokens"] > 0
    assert sum(cov["length"]["pool"]) == 400 and sum(cov["length"]["selected"]) == 60
    # clusters: the diversity view's column, or k-means on the map (which holds the whole pool here)
    assert cov["clusters"]["estimated"] is False
    assert sum(cov["clusters"]["pool"]) == pytest.approx(400)


def test_labels_distribution(labelled_run):
    s = json.loads((labelled_run / "summary.json").read_text())
    labels = s["coverage"]["labels"]
    assert set(labels["categories"]) == {"python", "other"}
    assert sum(labels["selected"]) == s["funnel"]["selected"]


def test_map_is_a_seeded_stratified_sample(demo_run):
    data = open_run(demo_run)
    a = build_summary(data, max_points=100)["map"]
    b = build_summary(data, max_points=100)["map"]
    assert a["points"] == b["points"]
    assert a["n_points"] == 100 and a["n_total"] == 400
    status = a["points"]["status"]
    assert status.count("selected") == 50  # half the points go to the 60 selected
    assert len(a["target"]["x"]) == 8


def test_stratified_sample_weights_recover_stratum_sizes():
    selected = np.zeros(100_000, dtype=bool)
    selected[:1000] = True
    pos, w = stratified_sample(selected, 5000, seed=0)
    assert len(pos) == 5000 and len(set(pos.tolist())) == 5000
    assert selected[pos].sum() == 1000  # all 1000 selected fit in half the budget
    assert w[selected[pos]].sum() == pytest.approx(1000)
    assert w[~selected[pos]].sum() == pytest.approx(99_000)


def test_missing_inputs_skip_texts_and_map_with_a_note(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["inputs"][0]["path"] = str(tmp_path / "gone.jsonl")
    (run / "manifest.json").write_text(json.dumps(manifest))
    s = build_summary(open_run(run))
    assert "skipped" in s["map"] and any("gone" in n for n in s["notes"])
    assert s["views"][0]["top"][0]["snippet"] is None
    assert "tokens" not in s["coverage"]["totals"]["pool"]


def test_histogram_ignores_nan_and_handles_a_constant():
    h = histogram(np.array([1.0, 1.0, np.nan]), np.array([True, False, False]))
    assert h["selected"] == [1] and h["other"] == [1]


def test_correlation_flags_redundant_views():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    t = pd.DataFrame({"a_raw": a, "a": a, "b_raw": a + rng.normal(0, 0.01, 200), "c_raw": rng.random(200)})
    t["b"], t["c"] = t["b_raw"], t["c_raw"]
    c = correlation(t)
    assert [r[:2] for r in c["redundant"]] == [["a", "b"]]
    assert c["matrix"][0][0] == 1.0


def test_tune_reader_is_tolerant():
    t = read_tune({"metric": "accuracy",
                   "sweep": [{"tau": 0.5, "size": 40, "f": 0.7}, {"tau": "x", "f": None}, "junk"],
                   "trace": [{"weights": {"a": 0.3}, "f": 0.6}, {"trial": 5, "f": float("nan")}],
                   "baselines": {"random": [{"size": 40, "f": [0.5, 0.6]}, {"size": "bad"}],
                                 "whole_pool": {"f": 0.65}}})
    assert t["sweep"] == [{"tau": 0.5, "size": 40.0, "f": 0.7}]
    assert t["trace"] == [{"trial": 0, "f": 0.6, "weights": {"a": 0.3}}]
    assert t["random"] == [{"size": 40.0, "mean": 0.55, "min": 0.5, "max": 0.6, "n": 2}]
    assert t["whole_pool"] == 0.65 and not t["empty"]
    assert read_tune({"sweep": "nonsense"})["empty"]
    assert read_tune(None) is None


def test_a_diversity_cluster_column_drives_coverage_and_the_map(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    table = pd.read_parquet(run / "scores.parquet")
    table["diversity_cluster"] = [f"c{i % 3}" for i in range(len(table))]
    table.to_parquet(run / "scores.parquet", index=False)
    s = build_summary(open_run(run))
    clusters = s["coverage"]["clusters"]
    assert clusters["column"] == "diversity_cluster" and clusters["estimated"] is False
    assert sorted(clusters["categories"]) == ["c0", "c1", "c2"] and sum(clusters["pool"]) == len(table)
    assert s["map"]["cluster_source"] == "diversity_cluster"
    assert set(s["map"]["points"]["cluster"]) == {"c0", "c1", "c2"}


def test_distribution_of_a_nullable_integer_cluster_column():
    from sft_select.report.coverage import distribution

    clusters = pd.Series(pd.array([0, 1, 1, None, 2], dtype="Int64"))  # as the diversity view writes it
    d = distribution(clusters, np.array([True, True, False, False, False]))
    assert dict(zip(d["categories"], d["pool"])) == {"1": 2, "0": 1, "(none)": 1, "2": 1}
    assert sum(d["selected"]) == 2
