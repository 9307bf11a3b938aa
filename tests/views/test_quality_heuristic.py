"""quality_heuristic: defects a reader would call low quality score below a plain good answer."""
from __future__ import annotations

import math

import numpy as np

from sft_select.views.registry import build
from views.viewdata import chat, with_ids

GOOD = ("To reverse a list in Python, use slicing: items[::-1] returns a reversed copy, while "
        "items.reverse() reverses the list in place. Slicing is clearer when you need the original.")


def test_defects_score_below_a_good_answer():
    q = "How do I reverse a list in Python?"
    rows = with_ids([
        chat(q, GOOD),
        chat(q, "I'm sorry, but as an AI language model I cannot help with that."),
        chat(q, "reverse " * 60),
        chat(q, "To reverse a list in Python, use slicing: items[::-1] returns a reversed copy, while the"),
        chat(q, q),
        chat("", GOOD),
    ])
    res = build("quality_heuristic", {"ideal_words": 20}).score_batch(rows)
    assert res.reasons[0] == "all signals good"
    assert np.all(res.raw[1:] < res.raw[0])
    weakest = [r.split(":")[1].split("=")[0].strip() for r in res.reasons[1:]]
    assert weakest == ["not_refusal", "repetition", "complete", "not_echo", "prompt"]


def _signals_by_definition(view, ex) -> dict[str, float]:
    """The quality signals of one example as their definitions read, text by text."""
    from sft_select.textstats import signals

    body = ex.text if ex.text is not None else ex.response
    head = body[:20_000]
    toks = signals.word_tokens(head)
    n, dup = len(toks), signals.duplicate_ngram_ratio(toks)
    length = 1.0 if view.ideal_words <= 0 else min(1.0, math.log1p(n) / math.log1p(view.ideal_words))
    out = {"length": 0.0 if n < view.min_words else length,
           "repetition": max(0.0, 1.0 - dup / view.max_dup_ngram),
           "text_ratio": min(1.0, signals.alpha_ratio(head) / 0.75)}
    if ex.text is None:
        prompt = ex.prompt.strip()
        out["not_refusal"] = 0.1 if signals.is_refusal(body) else 1.0
        cut = signals.looks_truncated(body) if view.truncation == "punctuation" else signals.truncation(body)
        out["complete"] = 0.3 if cut else 1.0
        out["prompt"] = 0.0 if not prompt else 1.0
        stripped = body.strip()
        out["not_echo"] = 0.2 if stripped and stripped == prompt else 1.0
    return out


def test_the_batch_table_holds_each_examples_signals():
    """score_batch computes the signals column by column (signal_table); every value is the signal's
    definition for that example alone, in signal order, for instruction rows and labelled text alike."""
    from views.viewdata import text

    q = "How do I reverse a list in Python?"
    rows = with_ids([chat(q, GOOD), chat(q, "I'm sorry, but as an AI language model I cannot help with that."),
                     chat(q, "reverse " * 60), chat(q, q), chat("", GOOD), chat(q, "Réponse: utilisez items[::-1]."),
                     chat(q, ""), chat(q, "ok")])
    view = build("quality_heuristic", {"ideal_words": 20})
    seen = set()
    for names, (idx, vals) in view.signal_table(rows).items():
        for r, i in enumerate(idx):
            sig = _signals_by_definition(view, rows[i])
            assert tuple(sig) == names and vals[r].tolist() == list(sig.values())
            assert view.signals_of(rows[i]) == sig
            seen.add(i)
    assert seen == set(range(len(rows)))
    texts = with_ids([text(t, "x") for t in ["a fine labelled text here", "", "dup dup dup dup dup"]])
    (names, (idx, vals)), = view.signal_table(texts).items()
    assert names == ("length", "repetition", "text_ratio") and idx == [0, 1, 2]
    assert [vals[r].tolist() for r in idx] == [list(_signals_by_definition(view, ex).values()) for ex in texts]


def test_default_rewards_neither_length_nor_final_punctuation():
    """Version 2: a short clean answer, a long one and one ending without punctuation (a list, a name)
    score alike; a real cut (dangling 'the', unclosed code) still scores below them."""
    q = "Name the smallest US state."
    filler = " ".join("w" + chr(97 + i // 26) + chr(97 + i % 26) for i in range(200))
    rows = with_ids([chat(q, "Rhode Island is the smallest state of the United States by area"),
                     chat(q, "Rhode Island is the smallest state by area. " + filler + "."),
                     chat(q, "The smallest ones:\n- Rhode Island\n- Delaware\n- Connecticut"),
                     chat(q, "The smallest state of the United States by area is, as many know, the"),
                     chat(q, "Use this code to list them:\n```python\nstates = sorted(areas)\n")])
    res = build("quality_heuristic").score_batch(rows)
    assert res.raw[0] == res.raw[1] == res.raw[2] == 1.0
    assert res.raw[3] < 1.0 and res.raw[4] < 1.0
    v1 = build("quality_heuristic", {"ideal_words": 120, "truncation": "punctuation"}).score_batch(rows)
    assert v1.raw[0] < 1.0  # version 1 called the name truncated (no final punctuation)
