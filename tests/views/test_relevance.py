"""Relevance views rank on-target examples first (the target is python questions)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from sft_select.views.registry import build
from views.viewdata import chat, make_pool, topic_of, with_ids


def precision_at(order, on_target, k):
    return float(np.mean(on_target[order[:k]]))


@pytest.mark.parametrize("name,params", [("relevance_embedding", {"model": "hashing"}), ("relevance_dsir", {})])
def test_on_target_examples_rank_first(name, params):
    pool = make_pool({"python": 15, "cooking": 15, "astronomy": 15, "finance": 15}, kind="chat", seed=10)
    target = make_pool({"python": 8}, kind="chat", seed=11)
    on_target = np.array([topic_of(ex) == "python" for ex in pool])
    raw = build(name, params).fit(pool, target).score_batch(pool).raw
    order = np.argsort(-raw, kind="stable")
    assert precision_at(order, on_target, 15) >= 0.9
    assert raw[on_target].min() > np.median(raw[~on_target])


def test_dsir_prefers_target_like_text_and_names_the_ngram():
    pool = make_pool({"python": 10, "cooking": 30}, kind="chat", seed=12)
    target = with_ids([chat("How do I write a python decorator?", "Use a python function that wraps a function."),
                       chat("What is a python generator?", "A python function that uses yield.")])
    view = build("relevance_dsir", {}).fit(pool, target)
    probe = with_ids([chat("Explain python decorators", "A python decorator wraps a function."),
                      chat("How long to bake bread?", "Bake the dough in the oven for forty minutes.")])
    res = view.score_batch(probe)
    assert res.raw[0] > 0 > res.raw[1]
    gram = res.reasons[0].split("most target-like: '")[1].split("'")[0]

    def words(text):  # the view's tokens: one-letter words are dropped, so "wraps a function" has "wraps function"
        return " " + " ".join(w for w in re.findall(r"\w+", text.lower()) if len(w) > 1) + " "

    assert f" {gram} " in words(probe[0].content) and any(f" {gram} " in words(ex.content) for ex in target)


def test_dsir_is_length_normalized():
    """Repeating an on-target text does not make it more relevant: the score is per n-gram."""
    pool = make_pool({"python": 10, "cooking": 30}, kind="chat", seed=13)
    target = make_pool({"python": 5}, kind="chat", seed=14)
    view = build("relevance_dsir", {"prior_ngrams": 0.0}).fit(pool, target)
    body = "python function with a list and a dictionary loop"
    res = view.score_batch(with_ids([chat("q", body), chat("q", " ".join([body] * 20))]))
    assert res.raw[0] > 0
    assert abs(res.raw[1] - res.raw[0]) < 0.25 * abs(res.raw[0])


def test_dsir_empty_text_is_neutral():
    pool = make_pool({"python": 5, "cooking": 5}, kind="chat", seed=15)
    view = build("relevance_dsir", {}).fit(pool, pool[:3])
    res = view.score_batch(with_ids([chat("?", "!")]))
    assert res.raw[0] == 0.0 and "no words" in res.reasons[0]


def test_relevance_needs_a_target():
    pool = make_pool({"python": 5}, kind="chat")
    for name in ("relevance_embedding", "relevance_dsir"):
        assert "target" in build(name, {}).skip_reason(pool, None)


def test_dsir_ngram_hashing_matches_a_plain_loop():
    """The vectorized featurization counts the same unigrams and bigrams as a loop per text would."""
    from collections import Counter

    import xxhash

    from sft_select.preprocess.shingles import _GOLDEN, mix64, words_of
    from sft_select.views.relevance_dsir import _buckets, _ngram_hashes, _tokens

    texts = ["A python function, a list and a dict.", "", "x", "中文测试 is text", "Ünïcödé wörds é a b cd",
             "the the the", "word_with_underscores and 42 numbers"]
    _, words, doc = _tokens(texts)
    hashes, rows, _, _ = _ngram_hashes(words, doc)
    got = Counter(zip(rows.tolist(), _buckets(hashes, 1000).tolist()))
    want = Counter()
    for i, text in enumerate(texts):
        toks = [np.uint64(xxhash.xxh3_64_intdigest(t)) for t in words_of(text) if len(t) >= 2]
        grams = [mix64(np.array([t]))[0] for t in toks]
        with np.errstate(over="ignore"):  # uint64 scalars wrap like the arrays do
            grams += [mix64(np.array([a * _GOLDEN + b]))[0] for a, b in zip(toks, toks[1:])]
        want.update((i, int(g % np.uint64(1000))) for g in grams)
    assert got == want
    assert not any(r == 2 for r, _ in got)  # "x" alone has no two-letter word
    assert sum(n for (r, _), n in got.items() if r == 3) == 6 + 5  # 4 CJK characters and 2 words: 6 tokens


def test_dsir_names_the_highest_log_ratio_ngram():
    from sft_select.views.relevance_dsir import _run_argmax

    values = np.array([1.0, 3.0, 3.0, -1.0, 2.0, 0.5])
    rows = np.array([0, 0, 0, 2, 2, 3])
    assert _run_argmax(values, rows, 5).tolist() == [1, -1, 4, 5, -1]
    assert _run_argmax(np.array([]), np.array([], dtype=np.int64), 2).tolist() == [-1, -1]
