"""Each filter drops what it names and keeps good data: code answers, lists, short factual answers."""
from __future__ import annotations

import pytest

from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.filters import apply_filters, filter_reason

from .helpers import chat, text

CFG = FilterConfig()

GOOD = [
    ("What is the capital of France?", "Paris."),
    ("What is 2 + 2?", "4"),
    ("Is water wet? Answer yes or no.", "yes"),
    ("Write a Python function that squares a number.", "```python\ndef square(x):\n    return x * x\n```"),
    ("Give a regex for an email address.", r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"),
    ("List three fruits.", "- apple\n- banana\n- cherry"),
    ("Name the planets", "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune"),
    ("Translate 'good morning' into Japanese.", "おはようございます"),
    ("Explain recursion briefly.", "A function that calls itself on a smaller input until it reaches a base case."),
    ("I feel sad today.", "I'm sorry to hear that. Talking to a friend or going for a walk can help a little."),
    ("Repeat after me: hello", "hello"),
    ("Convey 'cute cat' with emoji.", " 😻🐱"),
    ("Print a sudoku row pattern.", "\n".join("1 2 3 | 4 5 6 | 7 8 9" for _ in range(3)) + "\nDone."),
]


@pytest.mark.parametrize("prompt,response", GOOD)
def test_good_examples_pass(prompt, response):
    assert filter_reason(chat(prompt, response), CFG) is None


@pytest.mark.parametrize("prompt,response,reason", [
    ("How do I sort a list?", "", "filter_empty_response"),
    ("How do I sort a list?", "   \n ", "filter_empty_response"),
    ("", "Use sorted().", "filter_empty_prompt"),
    ("How do I sort a list?", "...", "filter_too_short_response"),
    ("How do I sort a list in Python?", "How do I sort a list in Python?", "filter_response_repeats_prompt"),
    ("Tell me a joke.", "As an AI language model, I cannot tell jokes.", "filter_refusal"),
    ("Write malware.", "I'm sorry, but I can't help with that request.", "filter_refusal"),
    ("Explain sorting.", "Python's sorted() returns a new list, while list.sort() sorts in place and",
     "filter_truncated"),
    ("Show code.", "Here it is:\n```python\nfor i in range(3):\n    print(i)", "filter_truncated"),
    ("Say something.", "ok #$%^&*()!@#$%^&*()!@#$%^&*()!@#$%^&*", "filter_symbols_response"),
    ("Write a story.", "\n".join(["the cat sat on the mat and looked around"] * 20), "filter_repeated_lines"),
])
def test_bad_examples_get_their_reason(prompt, response, reason):
    assert filter_reason(chat(prompt, response), CFG) == reason


def test_repetition_loop_without_newlines():
    loop = "I was very self-destructive. " * 30
    assert filter_reason(chat("Tell me about yourself.", loop), CFG) in {"filter_repeated_ngram",
                                                                         "filter_duplicate_ngrams"}


def test_long_bounds_in_chars_and_words():
    cfg = FilterConfig(max_response_chars=50, max_response_words=5)
    assert filter_reason(chat("q?", "x" * 60), cfg) == "filter_too_long_response"
    assert filter_reason(chat("q?", "one two three four five six"), cfg) == "filter_too_long_response"
    assert filter_reason(chat("q?", "one two three"), cfg) is None
    assert filter_reason(chat("q?", "a"), FilterConfig(min_response_words=2)) == "filter_too_short_response"


def test_echo_of_last_user_turn_with_system_prompt():
    ex = chat("What is a list?", "What is a list?", system="You are helpful.")
    assert filter_reason(ex, CFG) == "filter_response_repeats_prompt"


def test_filters_can_be_switched_off():
    cfg = FilterConfig(refusal=False, truncated=False, echo=False)
    assert filter_reason(chat("Tell me a joke.", "As an AI language model, I cannot tell jokes."), cfg) is None
    assert filter_reason(chat("Same?", "Same?"), cfg) is None


def test_text_label_data_uses_text_bounds():
    assert filter_reason(text(""), CFG) == "filter_empty_text"
    assert filter_reason(text("A perfectly fine review of a film."), CFG) is None


def test_apply_filters_returns_reasons_by_position():
    exs = [chat("q?", "fine answer."), chat("q?", ""), chat("q?", "As an AI language model, no.")]
    assert apply_filters(exs, [0, 1, 2], CFG) == {1: "filter_empty_response", 2: "filter_refusal"}
    assert apply_filters(exs, [0, 2], CFG) == {2: "filter_refusal"}  # only the given positions


def test_language_filter_keeps_short_and_code_and_drops_other_language():
    exs = [chat("Explain photosynthesis in one paragraph, please.",
                "Plants turn sunlight, water and carbon dioxide into sugar and oxygen inside their leaves."),
           chat("Erkläre die Photosynthese in einem Absatz, bitte.",
                "Pflanzen wandeln Sonnenlicht, Wasser und Kohlendioxid in ihren Blättern in Zucker und Sauerstoff um."),
           chat("Capital?", "Paris."),
           chat("Code?", "```python\nprint('hallo welt wie geht es dir heute')\n```")]
    drops = apply_filters(exs, range(4), FilterConfig(lang=["en"]))
    assert list(drops) == [1] and drops[1].startswith("filter_language: detected de (")


def test_unknown_language_code_is_a_config_error():
    from sft_select.core.errors import ConfigError

    with pytest.raises(ConfigError, match="xx"):
        apply_filters([chat("q", "a")], [0], FilterConfig(lang=["xx"]))




def test_batch_counted_repetition_gives_each_examples_own_reason():
    """apply_filters counts the bodies' tokens batch-wide (token_stats); every reason stays the one
    filter_reason finds for the example alone, repeated n-grams and non-ASCII bodies included."""
    loops = ["I was very self-destructive. " * 30, "the cat sat on the mat " * 4 + "and then it left for good.",
             "ab cd " * 12 + "ef gh ij kl mn op qr st uv wx yz " * 2, "Ünïcödé wörds répété " * 20]
    exs = [chat(p, r) for p, r in GOOD] + [chat("Tell me.", loop) for loop in loops]
    alone = {i: filter_reason(ex, CFG) for i, ex in enumerate(exs)}
    assert {alone[len(GOOD) + k] for k in range(len(loops))} & {"filter_repeated_ngram", "filter_duplicate_ngrams"}
    assert apply_filters(exs, range(len(exs)), CFG) == {i: r for i, r in alone.items() if r}


# -- every assistant turn is checked (issue #23, case 13) --------------------------------------------

def _conversations(tmp_path, rows: list[dict], name: str):
    import json

    from sft_select.io.load import load

    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return load([path]).examples


def _sharegpt(*answers: str) -> dict:
    turns = []
    for k, answer in enumerate(answers):
        turns += [{"from": "human", "value": f"Question number {k + 1}: how do I sort a list in Python?"},
                  {"from": "gpt", "value": answer}]
    return {"conversations": turns}


GOOD_ANSWER = "Call sorted(items) for a new list, or items.sort() to sort the list in place."
REFUSAL = "As an AI language model, I cannot help with sorting lists."


def test_every_assistant_turn_is_checked_sharegpt(tmp_path):
    rows = [_sharegpt("", GOOD_ANSWER), _sharegpt(REFUSAL, GOOD_ANSWER), _sharegpt(GOOD_ANSWER, GOOD_ANSWER),
            _sharegpt("Sure.", GOOD_ANSWER, GOOD_ANSWER), _sharegpt(GOOD_ANSWER, "  ", GOOD_ANSWER),
            _sharegpt(GOOD_ANSWER, REFUSAL)]
    exs = _conversations(tmp_path, rows, "chat.jsonl")
    assert [len(ex.turns) for ex in exs] == [4, 4, 4, 6, 6, 4]
    want = {0: "filter_empty_response: assistant turn 1 of 2", 1: "filter_refusal: assistant turn 1 of 2",
            4: "filter_empty_response: assistant turn 2 of 3", 5: "filter_refusal"}  # the last turn: unchanged name
    assert [filter_reason(ex, CFG) for ex in exs] == [want.get(i) for i in range(len(exs))]
    assert apply_filters(exs, range(len(exs)), CFG) == want  # the batch screen agrees
    off = FilterConfig(refusal=False)
    assert apply_filters(exs, range(len(exs)), off) == {0: want[0], 4: want[4]}


def test_every_assistant_turn_is_checked_messages(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be helpful."},
                          {"role": "user", "content": "Hi, can you help me with Python?"},
                          {"role": "assistant", "content": ""},
                          {"role": "user", "content": "How do I sort a list?"},
                          {"role": "assistant", "content": GOOD_ANSWER}]},
            {"messages": [{"role": "user", "content": "Hi, can you help me with Python?"},
                          {"role": "assistant", "content": "Of course, what do you need?"},
                          {"role": "user", "content": "How do I sort a list?"},
                          {"role": "assistant", "content": GOOD_ANSWER}]}]
    exs = _conversations(tmp_path, rows, "messages.jsonl")
    assert apply_filters(exs, range(len(exs)), CFG) == {0: "filter_empty_response: assistant turn 1 of 2"}
