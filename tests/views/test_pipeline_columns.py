"""Views in a real run: extra columns (cluster ids, label-issue flags) reach scores.parquet, survive the
score cache and `select`, and the default views are the CPU-fast ones whose inputs exist."""
from __future__ import annotations

import json

import pandas as pd

from sft_select.config.schema import build_config
from sft_select.pipelines.in_memory import choose_views, run
from sft_select.pipelines.reselect import reselect
from views.viewdata import make_pool


def _write(path, examples):
    with open(path, "w") as fh:
        for ex in examples:
            row = {"text": ex.text, "label": ex.label} if ex.text is not None else \
                {"instruction": ex.prompt, "output": ex.response}
            fh.write(json.dumps(row) + "\n")
    return path


def test_cluster_and_issue_columns_in_the_score_table(tmp_path):
    pool = _write(tmp_path / "pool.jsonl", make_pool({"python": 20, "cooking": 20, "finance": 5}, kind="text", seed=60))
    cfg = build_config({"embedding": {"model": "hashing"}, "select": {"n": 10},
                        "views": {"use": ["diversity", "quality_label", "relevance_dsir"]}})
    result = run([pool], tmp_path / "run", cfg)
    table = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert str(table["diversity_cluster"].dtype) == "Int64" and table["diversity_cluster"].notna().all()
    assert table["diversity_distance"].dtype == float
    assert str(table["quality_label_issue"].dtype) == "boolean"
    assert "relevance_dsir" in result.manifest["views"]["skipped"]  # no target: skipped, with the reason
    assert "target" in result.manifest["views"]["skipped"]["relevance_dsir"]

    again = run([pool], tmp_path / "run", cfg, force=True)  # the per-view cache keeps the extra columns
    assert set(again.manifest["views"]["cached"]) == {"diversity", "quality_label"}
    cached = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert cached["diversity_cluster"].tolist() == table["diversity_cluster"].tolist()
    assert cached["quality_label_issue"].tolist() == table["quality_label_issue"].tolist()

    reselect(tmp_path / "run", {"select": {"n": 5}})
    after = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    assert after["diversity_cluster"].tolist() == table["diversity_cluster"].tolist()
    assert int(after["selected"].sum()) == 5


def test_default_views_are_the_cpu_fast_ones():
    names = [v.name for v in choose_views(build_config({}), gpu=False)]
    assert "quality_reward" not in names  # slow on CPU: opt-in
    assert {"relevance_embedding", "relevance_dsir", "diversity", "difficulty_margin", "quality_heuristic",
            "quality_label"} <= set(names)
    assert not {"difficulty_ifd", "difficulty_loss", "quality_fluency"} & set(names), "LM views: GPU or on request"
    with_gpu = [v.name for v in choose_views(build_config({}), gpu=True)]
    assert "difficulty_ifd" in with_gpu
    # Views that need a file the user provides run only when named, with or without a GPU.
    assert "quality_model" not in with_gpu and "quality_reward" not in with_gpu
