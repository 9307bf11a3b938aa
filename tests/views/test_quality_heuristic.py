"""quality_heuristic: defects a reader would call low quality score below a plain good answer."""
from __future__ import annotations

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
