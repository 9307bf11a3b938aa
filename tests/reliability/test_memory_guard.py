"""Memory guards (issue #23, case 8): a labelled pool with very many classes must not make the label
views allocate rows × classes matrices without bound (10,000 classes on 20k rows peaked at 8.1 GB).
Above the caps (views/oof.py: max_classes, max_matrix_mb) the label views are skipped with the reason,
and the run goes on with the other views."""
from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from sft_select.config.schema import build_config
from sft_select.core.record import Example, assign_ids, content_hash
from sft_select.pipelines.in_memory import run
from sft_select.views.registry import build

WORDS = [f"w{i}" for i in range(3000)]


def _rows(n: int, classes: int, seed: int = 0) -> list[dict]:
    """`n` short texts, labels cycling over `classes` classes (two rows each when n = 2 × classes)."""
    rng = random.Random(seed)
    return [{"text": " ".join(rng.choice(WORDS) for _ in range(15)), "label": f"class{i % classes}"}
            for i in range(n)]


def _examples(rows: list[dict]) -> list[Example]:
    ids = assign_ids([content_hash((), r["text"], r["label"]) for r in rows])
    return [Example(id=i, source="gen", row=k, format="text_label", original=r, text=r["text"], label=r["label"])
            for k, (i, r) in enumerate(zip(ids, rows))]


@pytest.mark.parametrize("name", ["quality_label", "difficulty_margin"])
def test_many_classes_are_skipped_within_a_memory_bound(name: str) -> None:
    pool = _examples(_rows(2_400, 1_200))  # 1,200 classes of two rows: over max_classes=1,000
    view = build(name, {"model": "hashing"})
    tracemalloc.start()
    try:
        why = view.skip_reason(pool, None)
        if why is None:  # unguarded: fits 1,200-class proxies (~300 MB traced, tens of seconds)
            view.fit(pool).score_batch(pool)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32e6, f"{peak / 1e6:.0f} MB traced"
    assert why is not None and "bound memory" in why and "1,200 label classes" in why
    assert "max_classes=1,000" in why


def test_the_matrix_cap_counts_rows_times_classes() -> None:
    pool = _examples(_rows(600, 300))  # 300 classes (under max_classes), 600 × 300 × 8 B = 1.44 MB
    assert build("quality_label", {"model": "hashing"}).skip_reason(pool, None) is None
    why = build("quality_label", {"model": "hashing", "max_matrix_mb": 1.0}).skip_reason(pool, None)
    assert why is not None and "1 MB" in why and "max_matrix_mb=1" in why
    assert build("difficulty_margin", {"model": "hashing", "max_classes": 299}).skip_reason(pool, None)


def test_a_run_with_too_many_classes_finishes_with_the_reason(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in _rows(2_400, 1_200)), encoding="utf-8")
    cfg = build_config({"embedding": {"model": "hashing"}, "select": {"n": 10},
                        "views": {"use": ["diversity", "quality_label", "difficulty_margin"]}})
    result = run([pool], tmp_path / "run", cfg)
    skipped = result.manifest["views"]["skipped"]
    for name in ("quality_label", "difficulty_margin"):
        assert "bound memory" in skipped.get(name, ""), skipped
    selected = (tmp_path / "run" / "selected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(selected) == 10


def test_the_few_labels_message_stays_short() -> None:
    pool = _examples(_rows(5_000, 5_000))  # every label once: nothing to cross-validate
    why = build("quality_label", {"model": "hashing"}).skip_reason(pool, None)
    assert "two labels with two examples each" in why and "and 4995 more" in why and len(why) < 400
