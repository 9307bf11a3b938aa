"""The statistics the filters cut on (signals.py additions)."""
from __future__ import annotations

import pytest

from sft_select.core.normalize import normalize_text
from sft_select.textstats import signals


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


# --- The fast paths (bytes.translate, map, substring pre-checks) give what the plain definitions give.

def _alpha_ratio_reference(text):
    return sum(1 for c in text if c.isalpha() or c.isspace()) / len(text) if text else 0.0


def _dup_reference(tokens, n=3):
    from collections import Counter

    if len(tokens) < n + 1:
        return 0.0
    grams = Counter(zip(*(tokens[i:] for i in range(n))))
    return (sum(grams.values()) - len(grams)) / sum(grams.values())


_ODD_TEXTS = [
    "", " ", "a", "Hello, world!", "def f(x):\n    return x ** 2  # square\n", "\x1c\x1d\x1e\x1f\x0b\x0c sep",
    "中文测试，这是一个句子。", "Ünïcödé wörds ½ ² ٣ and émojis 😻🐱", "I'M SORRY, but I can't help with that.",
    "İ am sorry", "ı'm unable to do it", "As an AI language model, I cannot provide that.",
    "I can not fly", "I am sorry.", "I'm unable.", "Hm, as an AI model", "I cannot assist you.",
    "the the the the the the the the", "a b c a b c a b c d",
    "\u00a0\u2003\u3000 spaces", "tab\tand\r\nnewlines", "~!@#$%^&*()_+{}|:<>?", "x" * 5000,
    "mixed ascii and ñ " * 50, "as a language model", "I do not have access to the internet",
]


@pytest.mark.parametrize("text", _ODD_TEXTS)
def test_fast_signals_equal_their_definitions(text):
    assert signals.alpha_ratio(text) == _alpha_ratio_reference(text)
    assert signals.is_refusal(text) == bool(signals._REFUSAL.search(text[:2000]))
    toks = signals.word_tokens(text)
    assert [t.decode() if isinstance(t, bytes) else t for t in toks] == signals.words(text)
    assert signals.duplicate_ngram_ratio(toks) == _dup_reference(signals.words(text))


def test_fast_signals_equal_their_definitions_on_random_text():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("abcAB  \n\t.,'!?İıſK中é½²\x1c_0123") + ["sorry ", "i can", "as an ai "])

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(st.lists(alphabet, max_size=60).map("".join))
    def check(text):
        test_fast_signals_equal_their_definitions(text)

    check()


@pytest.mark.parametrize("text", _ODD_TEXTS + ["I cannot help with that.", "Sorry, I can't do that",
                                               "We won't comply", "I'm not able to browse the web.", "ı cannot help",
                                               "\x00ctrl\x7f  \x0b x"])
def test_more_fast_paths_equal_their_definitions(text):
    from sft_select.core.normalize import normalize_for_dedup
    from sft_select.preprocess.exact import normalized_bytes

    head = text[:1500]
    plain = (signals._BOILERPLATE.search(head) is not None
             or (bool(signals._REFUSAL_OPENING.search(head[:400])) and len(head.split()) <= 80
                 and not signals._BUT_HELPS.search(head)))
    assert signals.is_boilerplate_refusal(text) == plain
    for k in (0, 1, 3, 1000):
        assert signals.tokens_up_to(text, k) == min(k, signals.tokens(text))
    assert normalized_bytes(text) == normalize_for_dedup(text).encode("utf-8", "surrogatepass")


def test_refusals_of_a_batch_equal_is_refusal_of_each():
    """signals.refusals searches the hints over the batch joined; each answer is still is_refusal's,
    whatever its neighbours (hints at the edges of texts, capitals, non-ASCII texts, heads of 2000)."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    piece = st.sampled_from(["sorry", "I'm sorry", "I am unable", "as an AI model", "AS AN AI LANGUAGE MODEL",
                             "i can", "I cannot help", "as a language model", "ok ", " ", "\n", "é", "\x00",
                             "x" * 1990, "I do not have access"])
    texts = st.lists(st.lists(piece, max_size=6).map("".join), max_size=12)

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(texts)
    def check(batch):
        assert signals.refusals(batch) == [signals.is_refusal(t) for t in batch]

    check()
    assert signals.refusals(_ODD_TEXTS) == [signals.is_refusal(t) for t in _ODD_TEXTS]
