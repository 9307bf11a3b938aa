"""Pathological texts (0 bytes to 1 MB, any script, emoji, controls, broken surrogates) go through every
filter and dedup step without an error, and a filter that raises never stops the run."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sft_select.preprocess import filters
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.run import run_preprocess

from .helpers import chat, pool, text

MB = 1_000_000
NASTY = [
    "",
    " ",
    "\x00\x01\x02\x1f\x7f\x85\x9f",
    "\ud800 lone surrogate \udfff",
    "🙂" * 50,
    "👨‍👩‍👧‍👦 family ZWJ 🏳️‍🌈",
    "Z̷̢̛̪͓̈́͑a̸̧̟͐l̵̨̈g̶̣̈́o̴̺͝" * 20,
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "שלום עולם \u202e reversed \u202c",
    "こんにちは世界。今日はいい天気ですね。" * 10,
    "สวัสดีชาวโลก" * 10,
    "\u200b\u200c\u200d\ufeff",
    "\t\n\r\x0b\x0c" * 100,
    "```" * 7,
    "a" * MB,  # one 1 MB word
    "word " * (MB // 5),  # 1 MB of one repeated word
    ("The quick brown fox jumps over the lazy dog. " * 22_000)[:MB],
    "".join(chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c <= 0xDFFF) * 3,
]


def test_every_step_survives_pathological_texts(tmp_path):
    ev = tmp_path / "eval.txt"
    ev.write_text("The quick brown fox jumps over the lazy dog near the river bank today\n", encoding="utf-8")
    pairs = [(p, r) for p in NASTY[:6] for r in NASTY] + [(r, "A normal answer.") for r in NASTY]
    pairs.append(("Say it.", "The quick brown fox jumps over the lazy dog near the river bank today, he said."))
    exs = pool(pairs)
    cfg = PreprocessConfig.model_validate({
        "filters": {"lang": ["en"]},
        "semantic": {"enabled": True, "threshold": 0.9},
        "decontaminate": {"files": [str(ev)]},
    })
    start = time.perf_counter()
    res = run_preprocess(exs, cfg, embedder="hashing")
    assert time.perf_counter() - start < 60
    assert [s.step for s in res.steps] == ["filters", "decontaminate", "exact_dedup", "near_dedup", "semantic_dedup"]
    assert all(isinstance(r, str) and not r.startswith("filter_error") for r in res.drops.values())
    assert any(r.startswith("decontaminated") for r in res.drops.values())
    res.clusters.columns([e.id for e in exs])


@pytest.mark.parametrize("body", NASTY)
def test_text_label_rows_too(body):
    res = run_preprocess([text(body)], PreprocessConfig())
    assert len(res.steps) >= 1


def test_a_filter_that_raises_drops_only_that_example(monkeypatch):
    real = filters.filter_reason

    def flaky(ex, cfg, *counted):
        if "boom" in ex.response:
            raise RecursionError("pathological")
        return real(ex, cfg, *counted)

    monkeypatch.setattr(filters, "filter_reason", flaky)
    # the batch screen proves no row, so each one takes the per-example path, where the filter raises
    monkeypatch.setattr(filters.filter_batch, "passes", lambda exs, cfg: np.zeros(len(exs), bool))
    exs = [chat("q?", "boom"), chat("q?", "a fine answer.")]
    res = run_preprocess(exs, PreprocessConfig())
    assert res.drops == {0: "filter_error: RecursionError"}


@pytest.mark.parametrize("streaming", ["off", "on"])
@pytest.mark.parametrize("bad", ["folder", "missing", "suffix"])
def test_bad_decontaminate_path_fails_before_the_run_dir_is_made(tmp_path, cli, bad, streaming):
    """Before: `--decontaminate DIR` failed only when decontamination ran, leaving an empty run dir."""
    import json

    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Sort list {i} in Python, please?",
                                       "output": f"Call sorted() on list {i}; it returns a new list."}) + "\n"
                           for i in range(6)))
    ev = {"folder": tmp_path / "evals", "missing": tmp_path / "gone.jsonl", "suffix": tmp_path / "eval.docx"}[bad]
    if bad == "folder":
        ev.mkdir()
        (ev / "a.jsonl").write_text('{"q": "x"}\n')
    elif bad == "suffix":
        ev.write_text("x")
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "2", "--out", out, "--embedder", "hashing", "--decontaminate", ev,
                       "--streaming", streaming)
    assert code == 2, output
    assert str(ev) in output and "Traceback" not in output
    assert {"folder": "a folder", "missing": "not found", "suffix": "unknown evaluation file type"}[bad] in output
    assert not out.exists(), "nothing is created on a refused run"
