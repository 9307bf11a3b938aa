"""Augmentation: word edits with back-off for labelled text; marked rows; request lookup for paraphrase."""
from __future__ import annotations

import numpy as np
import pytest

from sft_select.core.errors import InputError
from sft_select.core.record import Example, Turn
from sft_select.pipelines.augment import (
    _request_leaf,
    augment_classification,
    augment_text,
    change_ratio,
    label_vocab,
    marked_row,
)


def labelled(n=20):
    out = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = ("great lovely superb film acting" if label == "pos" else "awful boring dull film plot").split()
        text = " ".join(words[(i + k) % 5] for k in range(8)) + f" number{i}"
        out.append(Example(id=f"e{i}", source="s.jsonl", row=i, format="text_label",
                           original={"review": text, "label": label, "extra": 1}, text=text, label=label))
    return out


def test_copies_are_marked_and_stay_close():
    exs = labelled()
    aug, stats = augment_classification(exs, per_example=2, p=0.15, max_change=0.4, seed=0)
    assert stats.made == len(aug) > 0 and stats.made + stats.backed_off == 40
    by_id = {e.id: e for e in exs}
    for a in aug:
        src = by_id[a.original["augmented_from"]]
        assert a.original["augmented"] is True and a.original["augmentation"].startswith("eda")
        assert a.original["review"] == a.text != src.text, "the text field of the row is replaced"
        assert a.original["extra"] == 1 and a.label == src.label == a.original["label"]
        assert 0 < change_ratio(src.text.split(), a.text.split()) <= 0.4
    assert augment_classification(exs, per_example=2, p=0.15, max_change=0.4, seed=0)[0] == aug


def test_insertions_come_from_the_same_label():
    exs = labelled()
    vocab = label_vocab(exs)
    aug, _ = augment_classification(exs, p=0.2, max_change=0.6, seed=1)
    for a in aug:
        src_words = set(next(e for e in exs if e.id == a.original["augmented_from"]).text.split())
        new_words = set(a.text.split()) - src_words
        assert new_words <= set(vocab[a.label][0])


def test_back_off_gives_up_when_any_edit_is_too_much():
    rng = np.random.default_rng(0)
    vocab = (["zzz"], np.array([1.0]))
    assert augment_text("two words", rng, vocab, p=0.5, max_change=0.05) is None
    exs = labelled(4)
    aug, stats = augment_classification(exs, p=0.5, max_change=0.01, seed=0)
    assert aug == [] and stats.backed_off == 4


def test_instruction_rows_need_paraphrase():
    ex = Example(id="c", source="s.jsonl", row=3, format="alpaca", original={"instruction": "Do x", "output": "ok"},
                 turns=(Turn("user", "Do x"), Turn("assistant", "ok")))
    with pytest.raises(InputError, match="paraphrase"):
        augment_classification([ex])


@pytest.mark.parametrize("row,turns,field", [
    ({"instruction": "Sum 2 and 3", "input": "numbers given", "output": "5"},
     (Turn("user", "Sum 2 and 3\n\nnumbers given"), Turn("assistant", "5")), ("instruction",)),
    ({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sum 2 and 3"},
                   {"role": "assistant", "content": "5"}]},
     (Turn("system", "Be brief."), Turn("user", "Sum 2 and 3"), Turn("assistant", "5")), ("messages", 1, "content")),
])
def test_request_field_is_found_in_the_original_row(row, turns, field):
    ex = Example(id="c", source="s", row=0, format="x", original=row, turns=turns)
    path, text = _request_leaf(ex)
    assert path == field and text == "Sum 2 and 3"
    new = marked_row(ex, path, "Add 2 to 3", "paraphrase")
    assert new["augmented"] and new["augmented_from"] == "c"
    assert row != new and "Add 2 to 3" in str(new) and "Sum 2 and 3" in str(row), "the original is untouched"


def test_augment_command_writes_marked_rows(tmp_path):
    import json

    from typer.testing import CliRunner

    from sft_select.cli.app import app

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(ex.original) + "\n" for ex in labelled(30)))
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    # The text sits in a renamed field; the generated reviews are templated near-duplicates of each other,
    # so near dedup is off here: this test is about augmentation, not dedup.
    cfg.write_text("input: {format: text_label, fields: {text: review}}\npreprocess: {near: {enabled: false}}\n")
    r = CliRunner().invoke(app, ["run", str(pool), "-n", "10", "--views", "quality_heuristic", "--embedder",
                                 "hashing", "--config", str(cfg), "--out", str(run)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["augment", str(run), "--per-example", "2", "--max-change", "0.5"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (run / "augmented.jsonl").read_text().splitlines()]
    plain = [r for r in rows if not r.get("augmented")]
    marked = [r for r in rows if r.get("augmented")]
    assert len(plain) == 10 and 0 < len(marked) <= 20
    assert all(set(r) == {"review", "label", "extra", "augmented", "augmented_from", "augmentation"} for r in marked)
    again = (run / "augmented.jsonl").read_text()
    CliRunner().invoke(app, ["augment", str(run), "--per-example", "2", "--max-change", "0.5"])
    assert (run / "augmented.jsonl").read_text() == again, "seeded: the same rows again"
