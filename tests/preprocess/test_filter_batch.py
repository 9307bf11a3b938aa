"""filter_batch proves rows pass only when filter_reason passes them: every reason of the batch path is the
per-example one, across every filter, its boundaries and several configs."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sft_select.core.record import Example, Turn
from sft_select.preprocess import filter_batch, filters
from sft_select.preprocess.config import FilterConfig

from .helpers import chat, text

PIECES = [
    # words, numbers, underscores, dangling words, a long token
    "the", "cat", "sat", "on", "mat", "Paris", "and", "of", "a", "42", "snake_case", "internationalization",
    # punctuation, symbols, list and quote markers
    ".", ",", ":", ";", "-", "(", ")", "!", "?", "'", '"', "#$%", "@", "- ", "1. ", "# ", "> ", "| ", "*",
    # whitespace str.strip removes (bytes.strip misses \x1c-\x1f), and controls words_of deletes
    " ", "  ", "\n", "\n\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x01", "\x7f", "\x00",
    # code fences and inline code
    "```", "```python\n", "`",
    # refusal phrases and their hints
    "As an AI language model", "I cannot help with that", "I'm sorry, but I can't assist with that",
    "Unfortunately, I am unable to provide", "artificial intelligence", " but here is ", "an ai",
    "I do not have the ability to browse", "won't", "will not",
]
# non-ASCII: accents, CJK, emoji, Unicode whitespace, a letter IGNORECASE folds
ODD = ["é", "中文", "😻🐱", "\u0085", "\xa0", "ı"]
piece = st.sampled_from(PIECES)
run = st.one_of(piece, st.tuples(piece, st.integers(1, 40)).map(lambda t: t[0] * t[1]),
                st.text(st.characters(max_codepoint=127), max_size=8))
ascii_body = st.lists(run, max_size=14).map("".join)
odd_body = st.lists(st.one_of(run, st.sampled_from(ODD)), max_size=14).map("".join)
body = st.one_of(ascii_body, ascii_body, ascii_body, odd_body)
line = st.lists(st.sampled_from(["the", "cat", "sat", "on", " ", ".", "a", "mat"]), min_size=1, max_size=8).map("".join)
repeated_lines = st.tuples(st.lists(line, min_size=1, max_size=4), st.integers(2, 12), body).map(
    lambda t: "\n".join(t[0] * t[1]) + t[2])
# 45-90 words (around repetition_min_words), from a small vocabulary (repeated n-grams) or random ones
vocabulary = st.one_of(st.sampled_from(["the", "cat", "sat", "on", "mat", "quietly", "Paris", "42", "and", "of"]),
                       st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
long_prose = st.lists(vocabulary, min_size=45, max_size=90).map(" ".join).map(lambda s: s + ".")
# ordinary sentences: rows the batch can prove, with lengths around the drawn bounds
plain = st.tuples(st.lists(vocabulary, min_size=1, max_size=30).map(" ".join), st.sampled_from([".", "!", "", ":"]))
plain = plain.map(lambda t: t[0][:1].upper() + t[0][1:] + t[1])
texts = st.one_of(body, body, plain, plain, repeated_lines, long_prose, st.tuples(body, long_prose).map("".join))


def _echo(prompt: str, variant: int) -> str:
    return [prompt, prompt.upper() + "!", " " + prompt.replace(" ", ", ") + ".", prompt + "\x01"][variant]


@st.composite
def examples(draw) -> Example:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return text(draw(texts))
    prompt = draw(texts)
    response = _echo(prompt, draw(st.integers(0, 3))) if kind == 1 else draw(texts)
    ex = chat(prompt, response, system=draw(st.sampled_from([None, None, None, "Be brief.", "Sé breve."])))
    if kind == 2:  # a multi-turn chat: the echo filter also compares with the last user turn
        user = draw(texts)
        last = _echo(user, draw(st.integers(0, 3))) if draw(st.booleans()) else draw(texts)
        turns = ex.turns + (Turn("user", user), Turn("assistant", last))
        ex = Example(id="m", source="t", row=0, format="sharegpt", original={}, turns=turns)
    elif kind == 3:  # no assistant turn at all: the response is empty
        ex = Example(id="u", source="t", row=0, format="sharegpt", original={}, turns=ex.turns[:-1])
    return ex


CONFIGS = {
    "defaults": FilterConfig(),
    "tight": FilterConfig(min_prompt_chars=5, max_prompt_chars=300, min_prompt_words=2, max_prompt_words=40,
                          min_response_chars=3, max_response_chars=400, min_response_words=2,
                          max_response_words=60, repetition_min_words=6, max_duplicate_line_chars=0.3,
                          max_top_ngram_chars={2: 0.4, 3: 0.3}, max_duplicate_ngram_chars={5: 0.3},
                          min_text_ratio=0.6, text_ratio_min_chars=4),
    "off": FilterConfig(min_prompt_chars=0, min_response_chars=0, min_response_words=0, echo=False,
                        refusal=False, truncated=False, max_top_ngram_chars={}, max_duplicate_ngram_chars={},
                        max_duplicate_line_chars=1.0, min_text_ratio=0.0),
    "unigram": FilterConfig(max_top_ngram_chars={1: 0.3}, repetition_min_words=3),
}


@st.composite
def configs(draw) -> FilterConfig:
    """Bounds drawn near the generated texts' sizes, so exact boundaries are hit."""
    small = st.integers(0, 40)
    return FilterConfig(
        min_prompt_chars=draw(small), max_prompt_chars=draw(st.integers(1, 400)),
        min_prompt_words=draw(st.integers(0, 6)), max_prompt_words=draw(st.integers(1, 60)),
        min_response_chars=draw(small), max_response_chars=draw(st.integers(1, 400)),
        min_response_words=draw(st.integers(0, 6)), max_response_words=draw(st.integers(1, 60)),
        echo=draw(st.booleans()), refusal=draw(st.booleans()), truncated=draw(st.booleans()),
        repetition_min_words=draw(st.integers(1, 60)),
        max_duplicate_line_chars=draw(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0])),
        max_top_ngram_chars=draw(st.sampled_from([{}, {2: 0.7, 3: 0.7, 4: 0.7}, {2: 0.2}, {1: 0.5}])),
        max_duplicate_ngram_chars=draw(st.sampled_from([{}, {10: 0.85}, {3: 0.1}])),
        min_text_ratio=draw(st.sampled_from([0.0, 0.2, 0.5, 0.75, 0.8, 0.9, 1.0])),
        text_ratio_min_chars=draw(st.integers(1, 30)))


SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _check(exs: list[Example], cfg: FilterConfig) -> None:
    alone = [filters._safe_reason(ex, cfg) for ex in exs]
    proven = filter_batch.passes(exs, cfg)
    assert not [(i, alone[i]) for i in range(len(exs)) if proven[i] and alone[i] is not None]
    assert filters._reasons(exs, cfg) == alone
    assert filters.apply_filters(exs, range(len(exs)), cfg) == {i: r for i, r in enumerate(alone) if r}


@pytest.mark.parametrize("name", CONFIGS)
@settings(max_examples=80, deadline=None, suppress_health_check=SLOW)
@given(exs=st.lists(examples(), min_size=1, max_size=25))
def test_batch_reasons_are_the_per_example_ones(name, exs):
    _check(exs, CONFIGS[name])


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(exs=st.lists(examples(), min_size=1, max_size=12), cfg=configs())
def test_batch_reasons_under_drawn_bounds(exs, cfg):
    _check(exs, cfg)


@settings(max_examples=150, deadline=None)
@given(letters=st.integers(1, 40), symbols=st.integers(0, 40), cut=st.sampled_from([0.2, 0.5, 0.75, 0.8, 0.9]))
def test_symbol_share_at_the_ratio_bound(letters, symbols, cut):
    """text_ratio right at min_text_ratio: the batch's float arithmetic must match the per-example one."""
    cfg = FilterConfig(min_text_ratio=cut, text_ratio_min_chars=1)
    body = "ab" * (letters // 2) + "a" * (letters % 2) + "#" * symbols
    _check([chat("What is it?", body), chat(body, "It is a fine answer."), text(body)], cfg)


GOOD = [("What is the capital of France?", "Paris."), ("List three fruits.", "- apple\n- banana\n- cherry"),
        ("Explain recursion briefly.", "A function that calls itself on a smaller input until it reaches a base case."),
        ("Write a haiku about rain.",
         "Soft rain on the roof,\nthe garden drinks in silence,\nclouds drift to the east."),
        ("Name the planets", "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune"),
        ("Summarize the plot.", "The hero leaves her village after a storm destroys the harvest. On the road she "
         "meets an old cartographer who teaches her to read the stars, and together they cross the mountains, "
         "trade with river merchants, survive a winter in a ruined fort and finally reach the capital, where "
         "she persuades the council to send grain back home before spring.")]


def test_ordinary_rows_take_the_batch_path():
    """The screen must prove ordinary ASCII rows (else it saves nothing), and only those it can."""
    exs = [chat(p, r) for p, r in GOOD] + [text("A perfectly fine review of a film.")]
    assert filter_batch.passes(exs, FilterConfig()).all()
    odd = [chat("Translate 'good morning' into Japanese.", "おはようございます"), chat("q?", ""),
           chat("Tell me a joke.", "As an AI language model, I cannot tell jokes.")]
    assert not filter_batch.passes(odd, FilterConfig()).any()


def test_a_row_whose_fields_raise_leaves_its_chunk_to_the_per_example_path():
    broken = Example(id="b", source="t", row=0, format="x", original={},
                     turns=(Turn("user", 42), Turn("assistant", "ok")))  # joining the prompt raises
    exs = [chat(p, r) for p, r in GOOD] + [broken]
    assert not filter_batch.passes(exs, FilterConfig()).any()
    assert filters._reasons(exs, FilterConfig()) == [None] * len(GOOD) + ["filter_error: TypeError"]
