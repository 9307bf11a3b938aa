"""quality_learned: the shipped model loads without pickle and orders answers whose quality is known."""
from __future__ import annotations

import numpy as np
import pytest

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example, Turn
from sft_select.views.quality_learned import MODEL_VERSION, SHIPPED, QualityLearned, load_model, turn_pairs
from sft_select.views.registry import build
from views.viewdata import with_ids

PROMPT = "How do I reverse a list in Python?"
GOOD = ("You can reverse a list in Python in two common ways.\n\n"
        "1. In place, with the list's own method:\n\n```python\nitems = [1, 2, 3]\nitems.reverse()\n"
        "print(items)  # [3, 2, 1]\n```\n\n"
        "2. As a new list, leaving the original unchanged, with slicing:\n\n```python\n"
        "reversed_items = items[::-1]\n```\n\n"
        "Use `reverse()` when you no longer need the original order, and slicing when you do.")
OFF_TOPIC = ("Bread dough should rise in a warm place for about an hour, until it has doubled in size. "
             "Knead it again briefly, shape the loaf, and bake it at 220 degrees until the crust is golden "
             "and the bottom sounds hollow when tapped.")
GARBLED = "list the python ~~ reverse]] [[ of ok ok ok %% ## in in in the the $$ 12 @@ reverse reverse"


def chat(*turns: str) -> Example:
    roles = ("user", "assistant") * len(turns)
    return Example(id="", source="t", row=0, format="sharegpt", original={},
                   turns=tuple(Turn(r, c) for r, c in zip(roles, turns)))


@pytest.fixture(scope="module")
def view():
    return build("quality_learned").fit([])


def scores(view, *examples: Example) -> np.ndarray:
    return view.score_batch(with_ids(examples)).raw


def test_shipped_weights_load_without_pickle():
    with np.load(SHIPPED, allow_pickle=False) as data:
        assert all(data[k].dtype.kind != "O" for k in data.files)
    model = load_model(SHIPPED)
    assert model["meta"]["model_version"] == MODEL_VERSION and MODEL_VERSION in QualityLearned.version
    assert np.isfinite(model["coef"]).all()


def test_a_good_answer_beats_an_off_topic_or_garbled_one(view):
    """alpaca-lc-1 failed this (AlpacaEval answers are all on topic and fluent); the guard fitted on
    synthetic negatives (an answer to another instruction, shuffled words, a repeated fragment, word
    salad) fixes it."""
    words = GOOD.split()
    shuffled = " ".join(words[k] for k in np.random.default_rng(0).permutation(len(words)))
    repeated = GOOD[:60] + " " + " ".join(["reverse a list in"] * 20)
    good, off, garbled, shuf, rep = scores(view, *(chat(PROMPT, a) for a in (
        GOOD, OFF_TOPIC, GARBLED, shuffled, repeated)))
    assert good > max(off, garbled, shuf, rep)


@pytest.mark.xfail(strict=True, reason="known weakness of alpaca-lc-syn-3: the whole answer beats only ~60% of "
                   "held-out answers cut mid-sentence (bench/quality_learned_eval.py syn_win.truncated); this "
                   "cut copy scores above the whole answer")
def test_a_good_answer_beats_its_copy_cut_mid_sentence(view):
    truncated = GOOD[:GOOD.index("unchanged,") + len("unchanged,")]  # about 60% of it
    good, cut = scores(view, chat(PROMPT, GOOD), chat(PROMPT, truncated))
    assert good > cut


def test_padding_an_answer_with_repeats_does_not_raise_its_score(view):
    once, *padded = scores(view, *(chat(PROMPT, "\n\n".join([GOOD] * k)) for k in (1, 2, 4, 8)))
    assert max(padded) <= once + 1e-9


def test_a_conversation_scores_its_weakest_turn(view):
    two_good = chat(PROMPT, GOOD, "And how do I sort it?", "Use `sorted(items)` for a new sorted list, or "
                    "`items.sort()` to sort the list in place; both accept `reverse=True`.")
    bad_second = chat(PROMPT, GOOD, "And how do I sort it?", GARBLED)
    assert [p for p, _ in turn_pairs(bad_second)] == [PROMPT, "And how do I sort it?"]
    first_only, good2, bad2 = scores(view, chat(PROMPT, GOOD), two_good, bad_second)
    assert bad2 < good2 and bad2 < first_only
    reason = view.score_batch(with_ids([bad_second])).reasons[0]
    assert "weakest of 2 turns: turn 2" in reason


def test_labelled_text_is_not_scored(view):
    text = Example(id="x", source="t", row=0, format="text_label", original={}, text="some text", label="a")
    res = view.score_batch([text])
    assert np.isnan(res.raw[0]) and res.reasons[0]


def test_a_file_that_is_not_a_model_is_an_error(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, coef=np.zeros(3))
    with pytest.raises(ConfigError):
        build("quality_learned", {"path": str(bad)}).fit([])
    (tmp_path / "y.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError):
        build("quality_learned", {"path": str(tmp_path / "y.npz")}).fit([])


# Edges of the batch path: Arrow's re-anchoring after a match ("- - item", "#a #b"), ASCII controls that
# Python's \s and RE2's read differently, non-ASCII case and spaces, a lone surrogate, code, an empty answer.
VARIED = ["", " ", "\n\n\n", GOOD, OFF_TOPIC, GARBLED, "- - item\n- x\n*\tbold **x** ** y",
          "1. 2. 3) a\n#a #b\n#b c\n  # d", "12. x\n1234. y\n\u2022 one\n\u2022\ttwo",
          "x\x0b- y\n-\x0bz\x1cw\x1dthe\x1ethe", "the.\nThe. an.\nIs it? Yes! no. ok",
          "\u00e9 the. \u0130s. \u017f. caf\u00e9 Caf\u00e9 na\u00efve\u00a0word\u3000\u4f60\u597d\u3002",
          "lone \ud800 surrogate, the. And then", "```python\ndef f(x):\n    return x  # the.\n```\nUse `f`",
          "see http://x.y/z?a=1. and so", "I'm sorry, I cannot help with that.", "word " * 900 + "and then the"]


def test_batch_statistics_equal_the_one_row_reference():
    """text_stats counts a batch at once (Arrow's RE2, bytes); row_stats counts one answer in Python."""
    from sft_select.views.quality_learned import row_stats, text_stats

    prompts = [PROMPT, "", "the list python reverse", "caf\u00e9 \u4f60\u597d reverse list", "x\ud800y the words"] * 4
    pairs = [(p, a) for a in VARIED for p in prompts[:5]]
    fast = text_stats([p for p, _ in pairs], [a for _, a in pairs])
    ref = np.array([row_stats(p, a) for p, a in pairs])
    np.testing.assert_array_equal(fast, ref)
    assert text_stats([], []).shape == (0, ref.shape[1])
