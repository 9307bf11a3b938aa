"""`sft-select run --validation` tunes before selecting; `tune` works on a run dir; `--no-tune` skips."""
from __future__ import annotations

import json

import pandas as pd
import yaml
from tune_helpers import examples
from typer.testing import CliRunner

from sft_select.cli.app import app


def write_jsonl(rows, path):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def data(tmp_path):
    pool, _ = examples(160, seed=1, flip=0.3)
    val, _ = examples(80, seed=2, prefix="v")
    target, _ = examples(20, seed=3, prefix="t")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"embedding": {"model": "hashing"},
                                   "views": {"use": ["quality_heuristic", "relevance_embedding"]},
                                   "tune": {"rounds": 1, "trials": 2, "sweep": [0.5, 1.0], "random_seeds": 2,
                                            "guard": False}}))
    return (write_jsonl([ex.original for ex in pool], tmp_path / "pool.jsonl"),
            write_jsonl([ex.original for ex in val], tmp_path / "val.jsonl"),
            write_jsonl([ex.original for ex in target], tmp_path / "target.jsonl"), cfg)


def invoke(*args):
    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


def test_run_with_validation_tunes_then_selects(tmp_path):
    pool, val, target, cfg = data(tmp_path)
    out = tmp_path / "run"
    code, output = invoke("run", pool, "--target", target, "--validation", val, "-n", 50, "--config", cfg,
                          "--out", out)
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    assert rep["views"] == ["quality_heuristic", "relevance_embedding"]
    assert rep["validation"]["tune"] + rep["validation"]["holdout"] == 80
    tuned = yaml.safe_load((out / "tuned-config.yaml").read_text())
    assert tuned["tune"]["enabled"] is False
    assert tuned["views"]["settings"]["quality_heuristic"]["weight"] == rep["best"]["weights"]["quality_heuristic"]
    assert tuned["select"]["threshold"] == rep["best"]["threshold"] and tuned["select"]["n"] == 50
    scores = pd.read_parquet(out / "scores.parquet")
    assert int(scores["selected"].sum()) == rep["best"]["size"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert "tune" in manifest["timings"]
    assert manifest["config"]["views"]["settings"]["relevance_embedding"]["weight"] == \
        tuned["views"]["settings"]["relevance_embedding"]["weight"]

    # The tuned config reproduces the tuned selection as is, without tuning again.
    out2 = tmp_path / "again"
    code, output = invoke("run", pool, "--target", target, "--validation", val, "--config", out / "tuned-config.yaml",
                          "--out", out2)
    assert code == 0, output
    assert not (out2 / "tune.json").exists()
    again = pd.read_parquet(out2 / "scores.parquet")
    assert set(again.loc[again["selected"], "id"]) == set(scores.loc[scores["selected"], "id"])


def test_a_streaming_run_tunes_on_the_views_fit_sample(tmp_path):
    """A pool too large for memory is tuned on the sample its views were fit on, with -n scaled to it;
    the tuned config keeps the pool's -n and gives the same selection when run as is."""
    pool, val, target, cfg = data(tmp_path)
    conf = yaml.safe_load(cfg.read_text())
    conf["engine"] = {"streaming": "on", "fit_sample": 80, "chunk_size": 50}
    cfg.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    code, output = invoke("run", pool, "--target", target, "--validation", val, "-n", 50, "--config", cfg,
                          "--out", out)
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    scores = pd.read_parquet(out / "scores.parquet")
    scored = int(scores["filter_reason"].isna().sum())
    assert rep["sample"]["pool_scored"] == scored and 60 <= rep["sample"]["scored"] <= 80
    assert rep["sample"]["sizes"]["n"] == round(50 * rep["sample"]["scored"] / scored)
    assert rep["pool"]["cap"] <= rep["sample"]["sizes"]["n"]  # the loop's subsets are sample-sized
    tuned = yaml.safe_load((out / "tuned-config.yaml").read_text())
    assert tuned["select"]["n"] == 50 and tuned["select"]["threshold"] == rep["best"]["threshold"]
    assert "tune" in json.loads((out / "manifest.json").read_text())["timings"]
    assert 0 < int(scores["selected"].sum()) <= 50
    code, output = invoke("run", pool, "--target", target, "--config", out / "tuned-config.yaml",
                          "--out", tmp_path / "again")
    assert code == 0, output
    again = pd.read_parquet(tmp_path / "again" / "scores.parquet")
    assert set(again.loc[again["selected"], "id"]) == set(scores.loc[scores["selected"], "id"])
    # `tune` on the streamed run dir draws the same sample and finds the same choice
    (out / "tune.json").unlink()
    code, output = invoke("tune", out, "--validation", val)
    assert code == 0, output
    retuned = json.loads((out / "tune.json").read_text())
    assert retuned["sample"] == rep["sample"] and retuned["best"] == rep["best"]


def test_no_tune_and_the_tune_command(tmp_path):
    pool, val, target, cfg = data(tmp_path)
    out = tmp_path / "run"
    code, output = invoke("run", pool, "--target", target, "--validation", val, "--no-tune", "-n", 50,
                          "--config", cfg, "--out", out)
    assert code == 0, output
    assert not (out / "tune.json").exists()
    code, output = invoke("tune", out, "--validation", val, "--trials", 1, "--apply")
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    scores = pd.read_parquet(out / "scores.parquet")
    assert int(scores["selected"].sum()) == rep["best"]["size"], "--apply re-selected with the tuned config"


def test_bad_validation_file_is_a_clean_error(tmp_path):
    pool, val, target, cfg = data(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "a"}\n{oops\n')
    code, output = invoke("run", pool, "--validation", bad, "-n", 20, "--config", cfg, "--views",
                          "quality_heuristic", "--out", tmp_path / "r")
    assert code == 2 and "bad.jsonl" in output and "line 2" in output
    code, output = invoke("tune", tmp_path / "nowhere", "--validation", val)
    assert code == 2 and "no such run directory" in output


def scored_run(tmp_path):
    """A finished run to tune (the run directory) and its validation file."""
    pool, val, target, cfg = data(tmp_path)
    out = tmp_path / "run"
    code, output = invoke("run", pool, "--target", target, "-n", 50, "--config", cfg, "--out", out)
    assert code == 0, output
    return out, val


def test_tune_command_tries_the_given_strategies(tmp_path):
    out, val = scored_run(tmp_path)
    code, output = invoke("tune", out, "--validation", val, "--strategies", "active, random")
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    tried = {p["label"] for p in rep["trace"] if p["phase"] == "strategy"}
    assert tried == {"strategy=active", "strategy=random"}
    assert rep["strategy"] in ("top", "active", "random")
    assert yaml.safe_load((out / "tuned-config.yaml").read_text())["select"]["strategy"] == rep["strategy"]
    code, output = invoke("tune", out, "--validation", val, "--strategies", "nonsense")
    assert code == 2 and "nonsense" in output


def test_tune_command_searches_the_active_grid_and_writes_the_chosen_settings(tmp_path):
    out, val = scored_run(tmp_path)
    code, output = invoke("tune", out, "--validation", val, "--strategies", "active",
                          "--active-grid", "skip=0,1; C=3")
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    tried = {p["label"] for p in rep["trace"] if p["phase"] == "settings"}
    assert len(tried) == 3 * 2 - 1 and all("active.skip=" in t and "active.C=" in t for t in tried)
    assert rep["grids"]["active"] == {"active.skip": [0.0, 1.0], "active.C": [3.0]}
    select = yaml.safe_load((out / "tuned-config.yaml").read_text())["select"]
    assert select["strategy"] == rep["strategy"]
    if rep["strategy"] == "active":
        assert {k: select[k.split(".")[0]][k.split(".")[1]] for k in rep["settings"]} == rep["settings"]
    else:
        assert rep["settings"] is None
    for bad in ("skip", "temperature=1", "C=x", "skip=2"):
        code, output = invoke("tune", out, "--validation", val, "--strategies", "active", "--active-grid", bad)
        assert code == 2 and "Traceback" not in output, (bad, output)


def test_proxy_flag_names_a_classifier_model(tmp_path):
    """`--proxy mlp` is the classifier proxy with that model, on `tune` and on `run`; the loop reports its
    holdout comparison with the proxy's name; an unknown proxy is a clean error."""
    out, val = scored_run(tmp_path)
    code, output = invoke("tune", out, "--validation", val, "--proxy", "mlp", "--trials", 1)
    assert code == 0, output
    rep = json.loads((out / "tune.json").read_text())
    assert rep["proxy"]["name"] == "mlp"
    assert "holdout f (mlp proxy)" in " ".join(output.split())
    tuned = yaml.safe_load((out / "tuned-config.yaml").read_text())
    assert tuned["evaluate"]["proxy"] == "classifier" and tuned["evaluate"]["classifier"]["model"] == "mlp"

    pool, val, target, cfg = data(tmp_path)
    code, output = invoke("run", pool, "--validation", val, "--proxy", "logreg", "-n", 50, "--config", cfg,
                          "--out", tmp_path / "run2")
    assert code == 0, output
    assert json.loads((tmp_path / "run2" / "tune.json").read_text())["proxy"]["name"] == "logreg"
    code, output = invoke("tune", out, "--validation", val, "--proxy", "svm")
    assert code == 2 and "--proxy" in output and "svm" in output
