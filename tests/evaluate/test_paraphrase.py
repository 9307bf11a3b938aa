"""LM paraphrase plumbing with the tiny random LM: rows come out marked, or are counted as backed off."""
from __future__ import annotations

from eval_helpers import one_torch_thread, tiny_lm  # noqa: F401  (fixtures)

from sft_select.core.record import Example, Turn
from sft_select.pipelines.augment import paraphrase_instructions


def test_paraphrase_marks_rows_or_backs_off(tiny_lm):
    exs = [Example(id=f"c{i}", source="s", row=i, format="prompt_completion",
                   original={"prompt": f"count from {i}", "completion": "1 2 3"},
                   turns=(Turn("user", f"count from {i}"), Turn("assistant", "1 2 3"))) for i in range(4)]
    out, stats = paraphrase_instructions(exs, model=tiny_lm, max_new_tokens=6)
    assert stats.made + stats.backed_off == 4 and stats.made == len(out)
    for a in out:
        assert a.original["augmented"] and a.original["augmented_from"].startswith("c")
        assert a.turns[0].content == a.original["prompt"] and a.turns[1].content == "1 2 3"
    assert paraphrase_instructions(exs, model=tiny_lm, max_new_tokens=6)[0] == out, "greedy decoding"
