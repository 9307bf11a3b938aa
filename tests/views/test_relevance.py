"""Relevance views rank on-target examples first (the target is python questions)."""
from __future__ import annotations

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
    assert gram in probe[0].content.lower() and any(gram in ex.content.lower() for ex in target)


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
