"""End to end through the CLI, on every input format and container type.

Checks that the selected file holds original rows in the input's own format, and that scores.parquet
and manifest.json are complete.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import to_format, write_file

CASES = [
    ("alpaca", "pool.jsonl"), ("alpaca", "pool.json"), ("alpaca", "pool.csv"), ("alpaca", "pool.parquet"),
    ("alpaca", "pool.jsonl.gz"), ("sharegpt", "pool.jsonl"), ("openai", "pool.json"),
    ("prompt_completion", "pool.csv"), ("text_label", "pool.parquet"),
]


def read_back(path: Path) -> list[dict]:
    name = path.name
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if name.endswith(".json"):
        return json.loads(path.read_text(encoding="utf-8"))
    if name.endswith(".csv"):
        return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
    if name.endswith(".parquet"):
        return pd.read_parquet(path).to_dict("records")
    raise ValueError(path)


def canon(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


@pytest.mark.parametrize("fmt,name", CASES)
def test_run_each_format(tmp_path, cli, demo_rows, fmt, name):
    pool, target = demo_rows
    rows = to_format(pool, fmt)
    src = write_file(rows, tmp_path / name)
    tgt = write_file(to_format(target, fmt), tmp_path / "target.jsonl")
    out = tmp_path / "run"
    code, output = cli("run", src, "--target", tgt, "-n", "25", "--out", out, "--embedder", "hashing", "--quiet")
    assert code == 0, output

    container = name.replace(".gz", "").split(".", 1)[1]
    selected_path = out / f"selected.{container}"
    selected = read_back(selected_path)
    assert len(selected) == 25
    plain = src if not name.endswith(".gz") else write_file(rows, tmp_path / "plain.jsonl")
    originals = {canon(r) for r in read_back(plain)}
    assert all(canon(r) in originals for r in selected), "selected rows must be original rows, unchanged"

    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == len(rows)
    assert scores["id"].is_unique
    for col in ("id", "source", "row", "score", "selected", "reason", "diversity", "diversity_raw"):
        assert col in scores.columns
    assert scores["selected"].sum() == 25
    assert scores.loc[scores["selected"], "reason"].isna().all()
    assert scores.loc[~scores["selected"], "reason"].notna().all(), "every unselected row says why"
    sel_scores = scores.loc[scores["selected"], "score"]
    unselected = ~scores["selected"] & scores["score"].notna() & scores["reason"].str.startswith("not_selected")
    rest = scores.loc[unselected, "score"]
    manifest = json.loads((out / "manifest.json").read_text())
    # auto: top (score order) with a target, whatever the data
    strategy = manifest["config"]["select"]["strategy"]
    assert strategy == "top"
    if len(rest) and strategy == "top":
        assert sel_scores.min() >= rest.max()
    assert manifest["status"] == "complete"
    assert manifest["counts"]["selected"] == 25
    assert manifest["inputs"][0]["format"] == fmt
    assert set(manifest["timings"]) >= {"load", "preprocess", "score", "combine_select", "write"}
    assert "diversity" in manifest["views"]["used"]
    assert ("quality_heuristic" in manifest["views"]["used"]) == (fmt != "text_label")  # instruction data only
    assert abs(sum(manifest["views"]["weights"].values()) - 1) < 1e-9
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == len(rows) - 25
    assert all({"row", "reason"} <= set(r) for r in rejected)


def test_ids_are_stable_across_runs(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    for run in ("a", "b"):
        code, out = cli("score", src, "--out", tmp_path / run, "--embedder", "hashing", "-q")
        assert code == 0, out
    a = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "b" / "scores.parquet")
    assert a["id"].tolist() == b["id"].tolist()
    assert (tmp_path / "a" / "manifest.json").exists()
    assert not list((tmp_path / "a").glob("selected.*")), "score stops before selection"


def test_select_reselects_without_rescoring(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    tgt = write_file(demo_rows[1], tmp_path / "target.jsonl")
    out = tmp_path / "run"
    assert cli("run", src, "--target", tgt, "-n", "30", "--out", out, "--embedder", "hashing", "-q")[0] == 0
    before = pd.read_parquet(out / "scores.parquet")
    code, output = cli("select", out, "--threshold", "0.5", "--weights", "relevance_embedding=1,quality_heuristic=0")
    assert code == 0, output
    after = pd.read_parquet(out / "scores.parquet")
    pd.testing.assert_series_equal(before["relevance_embedding_raw"], after["relevance_embedding_raw"])
    chosen = after[after["selected"]]
    assert (chosen["score"] >= 0.5).all()
    assert (chosen["score"] - chosen["relevance_embedding"]).abs().max() < 1e-12
    manifest = json.loads((out / "manifest.json").read_text())
    weights = manifest["views"]["weights"]  # every default view that ran; unnamed ones get what is left: 0
    assert weights["relevance_embedding"] == 1.0 and sum(weights.values()) == 1.0
    assert len(read_back(out / "selected.jsonl")) == len(chosen)


def test_existing_run_needs_force(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    out = tmp_path / "run"
    assert cli("run", src, "-n", "5", "--out", out, "--embedder", "hashing", "-q")[0] == 0
    stamp = (out / "selected.jsonl").read_bytes()
    code, output = cli("run", src, "-n", "7", "--out", out, "--embedder", "hashing", "-q")
    assert code == 2 and "--force" in output
    assert (out / "selected.jsonl").read_bytes() == stamp
    assert cli("run", src, "-n", "7", "--out", out, "--embedder", "hashing", "-q", "--force")[0] == 0
    assert len(read_back(out / "selected.jsonl")) == 7


def test_init_writes_a_valid_config(tmp_path, cli):
    from sft_select.config.schema import load_config

    path = tmp_path / "cfg.yaml"
    code, output = cli("init", path)
    assert code == 0, output
    cfg = load_config(path)
    assert cfg.select.n == 1000
    assert cfg.views.settings["relevance_embedding"].params == {"k": 5}
    assert cli("init", path)[0] == 2  # no silent overwrite


def test_config_file_and_flags_share_fields(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("select:\n  n: 11\nembedding:\n  model: hashing\nviews:\n  use: [quality]\n")
    assert cli("run", src, "--config", cfg, "--out", tmp_path / "a", "-q")[0] == 0
    assert len(read_back(tmp_path / "a" / "selected.jsonl")) == 11
    assert cli("run", src, "--config", cfg, "-n", "4", "--out", tmp_path / "b", "-q")[0] == 0
    assert len(read_back(tmp_path / "b" / "selected.jsonl")) == 4, "a CLI flag overrides the file"
    saved = (tmp_path / "b" / "config.yaml").read_text()
    assert "n: 4" in saved


def test_every_pipeline_is_callable_from_python(tmp_path, demo_rows):
    """dedup, run, tune and select are Python functions (the commands are flags over them)."""
    import sft_select

    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    val = write_file(demo_rows[1], tmp_path / "val.jsonl")
    manifest = sft_select.dedup([src], tmp_path / "dedup")
    assert manifest["command"] == "dedup" and (tmp_path / "dedup" / "manifest.json").exists()
    cfg = sft_select.build_config({"embedding": {"model": "hashing"}, "select": {"n": 30},
                                   "views": {"use": ["quality_heuristic", "relevance_embedding"]},
                                   "tune": {"rounds": 1, "trials": 1, "sweep": [1.0], "random_seeds": 1,
                                            "guard": False}})
    result = sft_select.run([src], tmp_path / "run", cfg)
    assert len(result.selected_ids) == 30
    tuned_result, tuned = sft_select.tune_run(tmp_path / "run", val, apply=True)
    assert (tmp_path / "run" / "tune.json").exists() and tuned.select.n == 30
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["run_config"] == manifest["config"], "applied: the tuned config is the run's own"
    again = sft_select.reselect(tmp_path / "run", {"select": {"n": 10}})
    assert len(again.selected_ids) == 10
