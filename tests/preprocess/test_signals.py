"""The statistics the filters cut on (signals.py additions)."""
from __future__ import annotations

import pytest

from sft_select import signals
from sft_select.normalize import normalize_text


def test_ngram_repetition_definitions():
    toks = "a b c a b c x y".split()  # 8 one-char words
    stats = signals.ngram_repetition(toks, [2, 3], [3, 4])
    assert stats["top_2"] == pytest.approx(4 / 8)  # "a b" twice: 4 of 8 characters
    assert stats["top_3"] == pytest.approx(6 / 8)
    assert signals.repeated_bigram_share(toks) == pytest.approx(6 / 8)  # the bound of them all
    assert stats["dup_3"] == pytest.approx(6 / 8)  # both "a b c" occurrences
    assert stats["dup_4"] == 0.0
    loop = ["g2"] * 100
    assert signals.ngram_repetition(loop, [2], [10]) == {"top_2": 1.0, "dup_10": 1.0}
    assert signals.ngram_repetition([], [2], [10]) == {}


@pytest.mark.parametrize("text,why", [
    ("This answer explains the whole idea and then it stops at the", "ends on 'the'"),
    ("Here is a list of steps you should follow carefully, in order,", "ends on ','"),
    ("Run `python -m venv .venv`, then activate it with `source", "unclosed inline code"),
    ("```python\nprint('hi')\n", "unclosed code block"),
    ("A complete sentence that ends properly with a full stop.", None),
    ("1. Rehab\n2. You Know I'm No Good\n10. He Can Only Hold Her", None),
    ("Try 'Rise & Shine Bakehouse' or 'The Golden Crumb'", None),
])
def test_truncation(text, why):
    assert signals.truncation(text) == why


def test_tokens_counts_words_and_cjk_characters():
    assert signals.tokens("Hello, world! 42") == 3
    assert signals.tokens("中文测试 ok") == 5
    assert signals.tokens("...") == 0


def test_boilerplate_refusal_is_narrow():
    assert signals.is_boilerplate_refusal("As an AI language model, I don't have opinions.")
    assert signals.is_boilerplate_refusal("I'm sorry, but I cannot help with that.")
    assert not signals.is_boilerplate_refusal("I'm sorry to hear that. Here are three things that help: rest.")
    assert not signals.is_boilerplate_refusal("I can't browse the web, but here is what I know: Paris.")
    assert not signals.is_boilerplate_refusal("You cannot divide by zero because the result is undefined.")


@pytest.mark.parametrize("raw", ["  a\u00a0 b\t\nc ", "\x00x\x1fy", "ｆｕｌｌ", "a\u2028b", "\ud800", ""])
def test_normalize_text_fast_path_equals_regex_definition(raw):
    import re
    import unicodedata

    slow = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "",
                  unicodedata.normalize("NFKC", re.sub(r"[\ud800-\udfff]", "\ufffd", raw)))
    assert normalize_text(raw) == re.sub(r"\s+", " ", slow).strip()
