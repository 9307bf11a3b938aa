"""Decontamination drops pool examples sharing a 13-gram (or a whole short item) with an eval file."""
from __future__ import annotations

import json

import pytest

from sft_select.core.errors import InputError
from sft_select.preprocess.config import DecontamConfig
from sft_select.preprocess.decontam import decontaminate, eval_texts

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")


def test_long_ngram_overlap_is_dropped(tmp_path):
    ev = tmp_path / "gsm8k_test.jsonl"
    ev.write_text(json.dumps({"question": QUESTION, "answer": "72"}) + "\n" +
                  json.dumps({"question": "What is two plus two?", "answer": "4"}) + "\n", encoding="utf-8")
    pool = ["Solve this: " + QUESTION.upper() + " Show your work.",  # contaminated, case aside
            "Natalia sold clips to 48 of her friends.",  # 8 words of it only
            "Tell me about clips and staplers in an office supply store near me please now."]
    reasons, stats = decontaminate(pool, [ev], DecontamConfig())
    assert reasons == ["decontaminated: gsm8k_test.jsonl", None, None]
    assert stats["files"]["gsm8k_test.jsonl"] == {"items": 4, "too_short_to_check": 3, "dropped": 1}


def test_short_eval_items_match_as_a_whole(tmp_path):
    ev = tmp_path / "short.txt"
    ev.write_text("Who wrote the novel Pride and Prejudice?\n\nok\n", encoding="utf-8")
    pool = ["Question: who wrote the novel pride and prejudice? Answer: Jane Austen.", "Who wrote Emma?"]
    reasons, _ = decontaminate(pool, [ev], DecontamConfig(min_words=5))
    assert reasons == ["decontaminated: short.txt", None]


def test_eval_texts_reads_nested_strings_and_fails_clearly(tmp_path):
    ev = tmp_path / "mc.json"
    ev.write_text(json.dumps([{"q": "a question", "choices": ["x", {"text": "y"}], "n": 3}]), encoding="utf-8")
    assert eval_texts(ev) == ["a question", "x", "y"]
    with pytest.raises(InputError, match="not found"):
        eval_texts(tmp_path / "missing.jsonl")
