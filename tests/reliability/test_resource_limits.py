"""Degenerate and extreme inputs each give a sensible result or one clear message, never a traceback.

Runs use the model-free hashing embedder. Where the views are not named, every default view runs, so
views added later are held to the same cases.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sft_select.config.schema import build_config
from sft_select.core.errors import SftSelectError
from sft_select.pipelines.in_memory import run

INSTRUCTION_VIEWS = ["quality_heuristic", "relevance_embedding"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(n: int = 5, views: list[str] | None = INSTRUCTION_VIEWS, **extra):
    return build_config({"select": {"n": n}, "views": {"use": views}, "embedding": {"model": "hashing"}, **extra})


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def _accounted(out: Path, rows: list[dict]) -> None:
    """Every input row is either selected or rejected with a reason: nothing lost, nothing altered."""
    selected = _rows(out / "selected.jsonl")
    rejected = _rows(out / "rejected.jsonl")
    assert all(r["reason"] for r in rejected)
    got = sorted(json.dumps(r, sort_keys=True) for r in selected + [r["row"] for r in rejected])
    assert got == sorted(json.dumps(r, sort_keys=True) for r in rows)


def _target(tmp_path: Path, n: int = 3) -> Path:
    rows = [{"instruction": f"How do I sort a list in Python, case {i}?", "input": "",
             "output": "Call sorted(items) for a new list or items.sort() in place."} for i in range(n)]
    return _write(tmp_path / "target.jsonl", rows)


def _pool_rows(n: int) -> list[dict]:
    topics = ["sort a list", "read a file", "bake bread", "plant tomatoes", "parse JSON", "tie a knot"]
    return [{"instruction": f"How do I {topics[i % 6]}? (variant {i})", "input": "",
             "output": f"Here is a clear answer about how to {topics[i % 6]}, step {i}, in a full sentence."}
            for i in range(n)]


def test_a_10_mb_example_goes_through(tmp_path: Path) -> None:
    words = " ".join(f"word{i % 997}" for i in range(1_300_000))  # ~10 MB of varied text
    big = {"instruction": "Summarize this very long document.", "input": words[:5_000_000],
           "output": words[:5_000_000] + " The end."}
    rows = [big, *_pool_rows(6)]
    assert len(json.dumps(big)) > 10_000_000
    pool = _write(tmp_path / "pool.jsonl", rows)
    result = run([pool], tmp_path / "run", _config(n=3), target=_target(tmp_path))
    table = result.table
    # The 10 MB row either is scored or leaves through a named filter (too long, repetitive): never an error.
    big_row = table.iloc[0]
    assert pd.notna(big_row["score"]) or str(big_row["filter_reason"]).startswith("filter_"), big_row["filter_reason"]
    assert table["score"].iloc[1:].notna().all()
    _accounted(tmp_path / "run", rows)


def test_a_pool_whose_texts_are_all_identical_keeps_one(tmp_path: Path) -> None:
    row = {"instruction": "How do I sort a list?", "input": "", "output": "Use sorted(items)."}
    rows = [dict(row) for _ in range(40)]
    pool = _write(tmp_path / "pool.jsonl", rows)
    result = run([pool], tmp_path / "run", _config(n=10), target=_target(tmp_path))
    assert len(result.selected_ids) == 1, "duplicates of one text were selected more than once"
    _accounted(tmp_path / "run", rows)


def test_a_pool_of_one_example(tmp_path: Path) -> None:
    rows = _pool_rows(1)
    pool = _write(tmp_path / "pool.jsonl", rows)
    result = run([pool], tmp_path / "run", _config(n=5), target=_target(tmp_path))
    assert len(result.selected_ids) == 1
    assert 0.0 <= float(result.table["score"].iloc[0]) <= 1.0
    _accounted(tmp_path / "run", rows)


def test_a_target_of_one_example(tmp_path: Path) -> None:
    rows = _pool_rows(12)
    pool = _write(tmp_path / "pool.jsonl", rows)
    result = run([pool], tmp_path / "run", _config(n=4), target=_target(tmp_path, n=1))
    assert "relevance_embedding" in result.manifest["views"]["used"]
    assert len(result.selected_ids) == 4
    # The relevance view ranks the on-target rows (sorting, like the one target) above the rest.
    top = result.table.sort_values("relevance_embedding_raw", ascending=False).iloc[0]
    assert "sort a list" in next(r["instruction"] for r in rows if r == _rows(pool)[top["row"]])
    _accounted(tmp_path / "run", rows)


@pytest.mark.parametrize("with_target", [False, True])
def test_all_labels_the_same_class_with_every_default_view(tmp_path: Path, with_target: bool) -> None:
    rows = [{"text": f"Review {i}: the product did what it said, {'and more' if i % 2 else 'mostly'}.",
             "label": "positive"} for i in range(30)]
    pool = _write(tmp_path / "pool.jsonl", rows)
    target = _write(tmp_path / "t.jsonl", rows[:3]) if with_target else None
    try:
        result = run([pool], tmp_path / "run", _config(n=10, views=None), target=target)
    except SftSelectError as exc:  # a clear refusal is fine (e.g. a view that needs two classes)
        assert "class" in str(exc) or "label" in str(exc), f"unclear message: {exc}"
        return
    assert 1 <= len(result.selected_ids) <= 10
    _accounted(tmp_path / "run", rows)


def test_more_requested_than_the_pool_holds(tmp_path: Path) -> None:
    rows = _pool_rows(7)
    pool = _write(tmp_path / "pool.jsonl", rows)
    result = run([pool], tmp_path / "run", _config(n=1000), target=_target(tmp_path))
    assert len(result.selected_ids) == 7
    _accounted(tmp_path / "run", rows)


def test_a_pool_with_no_usable_row_is_one_clear_error(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"instruction": "", "output": ""}\nnot json\n', encoding="utf-8")
    cfg = _config(n=3, input={"on_error": "skip"})
    with pytest.raises(SftSelectError, match="no usable examples"):
        run([pool], tmp_path / "run", cfg, target=_target(tmp_path))
    assert not (tmp_path / "run").exists(), "a failed load created the run directory"
