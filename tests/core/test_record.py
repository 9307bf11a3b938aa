"""The record type and format mapping: stable ids, role mapping, prompt/response split."""
from __future__ import annotations

import pytest

from sft_select.core.record import Example, Turn, assign_ids, content_hash
from sft_select.io.formats import RowError, detect_format, parse_row


def test_id_ignores_whitespace_and_unicode_form_but_not_content():
    a = content_hash((Turn("user", "Café  au lait?"), Turn("assistant", "Yes.")), None, None)
    b = content_hash((Turn("user", "Cafe\u0301 au lait? "), Turn("assistant", "Yes.")), None, None)
    c = content_hash((Turn("user", "Café au lait?"), Turn("assistant", "No.")), None, None)
    assert a == b != c
    assert content_hash((), "x", "pos") != content_hash((), "x", "neg")


def test_repeats_get_suffixes_in_reading_order():
    assert assign_ids(["a", "b", "a", "a"]) == ["a", "b", "a~1", "a~2"]


@pytest.mark.parametrize("row,fmt", [
    ({"instruction": "i", "input": "", "output": "o"}, "alpaca"),
    ({"conversations": [{"from": "human", "value": "hi"}]}, "sharegpt"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "openai"),
    ({"prompt": "p", "completion": "c"}, "prompt_completion"),
    ({"text": "t", "label": 1}, "text_label"),
    ({"question": "q"}, None),
])
def test_detect_format(row, fmt):
    assert detect_format(row) == fmt


def test_field_mapping_renames_columns():
    row = {"question": "What is 2+2?", "answer": "4."}
    fields = {"instruction": "question", "output": "answer"}
    assert detect_format(row, fields) == "alpaca"
    parsed = parse_row(row, "alpaca", fields)
    assert [t.role for t in parsed.turns] == ["user", "assistant"]
    assert parsed.turns[1].content == "4."


def test_multi_turn_prompt_is_everything_before_the_last_answer():
    row = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"},
                        {"role": "assistant", "content": "A2"}]}
    parsed = parse_row(row, "openai")
    ex = Example(id="x", source="f", row=0, format="openai", original=row, turns=parsed.turns)
    assert ex.response == "A2"
    assert ex.prompt == "S\n\nU1\n\nA1\n\nU2"
    assert ex.content.endswith("A2")


def test_sharegpt_roles_and_bad_turns():
    parsed = parse_row({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "sharegpt")
    assert [t.role for t in parsed.turns] == ["user", "assistant"]
    with pytest.raises(RowError) as err:
        parse_row({"conversations": [{"from": "human", "value": 3}]}, "sharegpt")
    assert err.value.field == "conversations[0].value"
    with pytest.raises(RowError):
        parse_row({"conversations": []}, "sharegpt")


def test_alpaca_input_joins_the_prompt():
    parsed = parse_row({"instruction": "Summarize.", "input": "Long text.", "output": "Short."}, "alpaca")
    assert parsed.turns[0].content == "Summarize.\n\nLong text."


def test_loaded_examples_carry_their_joined_texts(tmp_path):
    """load() joins prompt and content in the parent, so forked workers inherit them (a worker's own
    join is lost with the worker); streaming chunks and samples do the same."""
    import json

    from sft_select.io.load import load
    from sft_select.pipelines.streaming.source import Stream

    path = tmp_path / "pool.jsonl"
    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for examples in (load([path]).examples, next(Stream([path]).chunks(3)), Stream([path]).sample(2, 0)[0]):
        assert examples and all(ex._content is not None and ex._prompt is not None for ex in examples)
        assert examples[0]._content == examples[0].prompt + "\n\n" + examples[0].response
