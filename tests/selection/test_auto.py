"""select.strategy auto: the default selection for the data in front of it (selection/auto.py)."""
from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.config.schema import build_config
from sft_select.pipelines.in_memory import choose_views
from views.viewdata import make_pool


def _write(rows, path):
    path.write_text("".join(json.dumps(ex.original) + "\n" for ex in rows))
    return path


def _run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_no_large_cluster_is_left_empty_by_the_default_on_instruction_data(tmp_path):
    """Top-N by score left whole k-means clusters without a row; the default gives each its share."""
    counts = {"python": 260, "cooking": 60, "astronomy": 40, "finance": 30}
    src = _write(make_pool(counts, kind="chat", seed=4), tmp_path / "pool.jsonl")
    _run("run", src, "-n", 60, "--out", tmp_path / "run", "--embedder", "hashing", "-q")
    t = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["select"]["strategy"] == "coverage"
    assert manifest["config"]["select"]["quota_by"] == "cluster"
    alive = t[t["filter_reason"].isna()]
    sizes = alive.groupby("diversity_cluster").size()
    picked = alive[alive["selected"]].groupby("diversity_cluster").size().reindex(sizes.index, fill_value=0)
    big = sizes[sizes >= len(alive) / 60]  # clusters holding at least one seat's share of the pool
    assert (picked[big.index] > 0).all(), pd.DataFrame({"size": sizes, "picked": picked})


def test_defects_are_vetoed_by_the_default_on_instruction_data():
    """quality_heuristic flags its defects (the preprocessing filters drop most of them first; these are what
    reaches the views when a filter is off), and auto's coverage leaves flagged rows out."""
    import numpy as np

    from sft_select.selection.strategies import Context, select
    from sft_select.views.registry import build
    from views.viewdata import chat, with_ids

    q = "How do I sort a list in Python?"
    rows = with_ids([chat(q, "Call sorted(items) for a new list, or items.sort() to sort in place."),
                     chat(q, "I'm sorry, but as an AI language model I cannot help with that."),
                     chat(q, "Call sorted on the list and keep the result in the"),
                     chat(q, q), chat(q, "sort " * 40)])
    res = build("quality_heuristic").score_batch(rows)
    assert res.extra["issue"].tolist() == [False, True, True, True, True]
    n = 40
    t = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": None, "reason": None, "filter_reason": None,
                      "score": np.linspace(1, 0, n), "diversity_cluster": np.arange(n) % 4,
                      "quality_heuristic_issue": np.arange(n) % 5 == 0})
    from sft_select.selection.config import SelectConfig

    t = t.assign(diversity_raw=0.5)
    ctx = Context({f"r{i}": rows[0] for i in range(n)}, "hashing")
    sel = select(t, SelectConfig(n=20), ctx=ctx)
    assert sel.keep.sum() == 20
    assert not sel.keep[t["quality_heuristic_issue"].to_numpy()].any()
    assert all(r.startswith("defect: flagged by quality_heuristic")
               for r, f in zip(sel.reasons, t["quality_heuristic_issue"]) if f)


def test_the_two_label_views_never_cancel_in_the_default(tmp_path):
    """difficulty_margin is quality_label reversed: the defaults on labelled data never hold both."""
    rows = make_pool({"python": 60, "cooking": 60}, kind="text", seed=2)
    src = _write(rows, tmp_path / "pool.jsonl")
    _run("run", src, "--fraction", "0.3", "--out", tmp_path / "run", "--embedder", "hashing", "-q")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    used = manifest["views"]["used"]
    assert "quality_label" in used and "difficulty_margin" not in used and "quality_heuristic" not in used
    assert manifest["config"]["select"]["strategy"] == "stratified"
    t = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    flagged = t["quality_label_issue"].fillna(False).astype(bool)
    assert not t.loc[flagged, "selected"].any()  # flagged label errors out by default
    # named, it still runs
    names = [v.name for v in choose_views(build_config({"views": {"use": ["difficulty_margin", "quality_label"]}}))]
    assert names == ["difficulty_margin", "quality_label"]


def test_a_setting_the_user_gave_is_kept_by_auto():
    from sft_select.selection.auto import resolve_auto
    from sft_select.selection.config import SelectConfig

    t = pd.DataFrame({"id": ["a"], "label": [None], "diversity_cluster": [0]})
    cfg = resolve_auto(SelectConfig(n=5, coverage={"trim": 0.2}), t)
    assert (cfg.strategy, cfg.quota_by, cfg.coverage.trim) == ("coverage", "cluster", 0.2)
    cfg = resolve_auto(SelectConfig(n=5), t.assign(relevance_embedding_raw=[0.5]))
    assert cfg.strategy == "top"
    assert resolve_auto(SelectConfig(n=5), t.assign(label=["a"])).strategy == "stratified"
    assert resolve_auto(SelectConfig(n=5), t.assign(label=["a"], relevance_dsir_raw=[1.0])).strategy == "top"
    assert resolve_auto(SelectConfig(n=5, strategy="greedy"), t).strategy == "greedy"
