"""`train-quality --view quality_learned`: graded labels and preference pairs in, a model the
quality_learned view loads out; two-valued labels warn; bad input exits 2 and writes nothing."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.core.paths import shared_data
from sft_select.views.quality_learned import load_model
from sft_select.views.quality_learned_fit import label_span
from sft_select.views.registry import build
from views.viewdata import TOPICS, chat, sentence, with_ids

runner = CliRunner()


def answer(rng: random.Random, topic: str, grade: int) -> str:
    """An answer of a known grade: 3 a full on-topic answer, 2 one on-topic sentence, 1 a stutter of one
    topic word, 0 symbol noise."""
    if grade == 3:
        return " ".join(sentence(rng, topic, rng.randint(10, 16)) for _ in range(rng.randint(3, 5)))
    if grade == 2:
        return sentence(rng, topic, rng.randint(6, 9))
    if grade == 1:
        return " ".join([rng.choice(TOPICS[topic].split())] * rng.randint(8, 20))
    return "".join(rng.choice("#$%&*@!{}[]<>|~^0123456789") for _ in range(rng.randint(30, 80)))


def graded_rows(n_prompts: int, seed: int, grades=(0, 1, 2, 3), shared_prompt: bool = True) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n_prompts):
        t = rng.choice(list(TOPICS))
        prompt = f"Explain something about {t}: {sentence(rng, t, 8)}"
        for g in grades:
            p = prompt if shared_prompt else f"{prompt} ({g})"
            rows.append({"instruction": p, "output": answer(rng, t, g), "score": g})
    return rows


def write(path, rows) -> str:
    with open(path, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return str(path)


def train(*args: str):
    return runner.invoke(app, ["train-quality", "--embedder", "hashing", *args])


def held_out_scores(path, rows):
    pool = with_ids([chat(r["instruction"], r["output"], k) for k, r in enumerate(rows)])
    view = build("quality_learned", {"path": str(path)}).fit(pool)
    return view.score_batch(pool).raw


@pytest.mark.parametrize("shared_prompt", [True, False], ids=["within-prompt", "across-rows"])
def test_graded_labels_train_a_model_the_view_loads_and_that_orders_held_out_rows(tmp_path, shared_prompt):
    data = write(tmp_path / "graded.jsonl", graded_rows(30, seed=1, shared_prompt=shared_prompt))
    res = train("--view", "quality_learned", "--data", data, "--label-field", "score", "--out", str(tmp_path / "m.npz"))
    assert res.exit_code == 0, res.output
    assert "warning" not in res.output and "quality_learned.params.path" in res.output
    meta = load_model(tmp_path / "m.npz")["meta"]
    assert meta["model_version"].startswith("user-") and meta["embedder"] == "hashing"
    assert meta["labels"] == {"kind": "graded", "rows": 120, "values": 4, "min": 0.0, "max": 3.0,
                              "span": "graded", "field": "score"}
    assert meta["pairs"]["within_prompt"] is shared_prompt and meta["trained_on"] == [data]
    assert meta["cv"]["pair_accuracy"] >= 0.9 and meta["warning"] is None
    held = graded_rows(15, seed=2)  # other prompts, other answers
    scores = held_out_scores(tmp_path / "m.npz", held)
    grades = np.array([r["score"] for r in held])
    assert spearmanr(scores, grades).correlation >= 0.8
    means = [scores[grades == g].mean() for g in range(4)]
    assert means == sorted(means), means


def test_preference_pairs_train_with_strings_or_conversations(tmp_path):
    rng = random.Random(3)
    rows, conv = [], []
    for _ in range(40):
        t = rng.choice(list(TOPICS))
        prompt = f"Tell me about {t}: {sentence(rng, t, 8)}"
        good, bad = answer(rng, t, rng.choice((2, 3))), answer(rng, t, rng.choice((0, 1)))
        rows.append({"prompt": prompt, "chosen": good, "rejected": bad})
        conv.append({"chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": good}],
                     "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": bad}]})
    held = graded_rows(10, seed=4)
    for name, data in (("strings", rows), ("conversations", conv)):
        out = tmp_path / name  # a folder: the model goes to <folder>/quality_learned.npz
        out.mkdir()
        res = train("--pairs", write(tmp_path / f"{name}.jsonl", data), "--out", str(out))  # --pairs: quality_learned
        assert res.exit_code == 0, res.output
        meta = load_model(out / "quality_learned.npz")["meta"]
        assert meta["labels"] == {"kind": "pairwise", "rows": 40, "span": "pairs"}
        assert meta["pairs"] == {"count": 40, "within_prompt": True}
        scores = held_out_scores(out / "quality_learned.npz", held)
        top = np.array([r["score"] >= 2 for r in held])
        assert roc_auc_score(top, scores) >= 0.95, name


def test_two_valued_labels_warn_and_say_so_in_the_meta(tmp_path):
    data = write(tmp_path / "two.jsonl", graded_rows(20, seed=5, grades=(0, 3)))
    res = train("--view", "quality_learned", "--data", data, "--label-field", "score", "--out", str(tmp_path / "m.npz"))
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "two values" in res.output and "will not order" in res.output
    meta = load_model(tmp_path / "m.npz")["meta"]
    assert meta["labels"]["span"] == "two values" and "only the contrast" in meta["warning"]
    grades = np.array([1] * 48 + [3] + [5] * 51, dtype=float)  # 1-5 ratings bunched at the ends
    assert label_span(grades)[0] == "two extreme groups"
    assert label_span(np.array([1, 2, 3, 4, 5] * 20, dtype=float)) == ("graded", None)


def test_quality_model_warns_that_it_learns_one_contrast(tmp_path):
    data = write(tmp_path / "two.jsonl", graded_rows(6, seed=6, grades=(0, 1)))
    res = train("--data", data, "--label-field", "score", "--out", str(tmp_path / "qm"))  # the default view
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and (tmp_path / "qm" / "quality_model.npz").exists()
    assert "will not order" in json.loads((tmp_path / "qm" / "quality_model.json").read_text())["warning"]


@pytest.mark.parametrize("case", ["missing field", "not a number", "empty pairs", "pair without rejected",
                                  "pair without prompt"])
def test_bad_input_exits_2_naming_file_row_and_field_and_writes_nothing(tmp_path, case):
    rows = graded_rows(3, seed=7)
    if case == "missing field":
        del rows[5]["score"]
        args, says = ["--data", write(tmp_path / "in.jsonl", rows), "--label-field", "score"], ["row 6", "'score'"]
    elif case == "not a number":
        rows[2]["score"] = "great"
        args, says = ["--data", write(tmp_path / "in.jsonl", rows), "--label-field", "score"], ["'score'", "great"]
    elif case == "empty pairs":
        args, says = ["--pairs", write(tmp_path / "in.jsonl", [])], ["no preference pairs"]
    elif case == "pair without rejected":
        pairs = [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "a"}]
        args, says = ["--pairs", write(tmp_path / "in.jsonl", pairs)], ["line 2", "'rejected'"]
    else:
        args, says = ["--pairs", write(tmp_path / "in.jsonl", [{"chosen": "a", "rejected": "b"}])], ["line 1", "prompt"]
    out = tmp_path / "out" / "m.npz"
    res = train("--view", "quality_learned", *args, "--out", str(out))
    assert res.exit_code == 2, res.output
    assert "in.jsonl" in res.output and all(s in res.output for s in says), res.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no model, no temp file


def test_options_that_do_not_go_together_exit_2(tmp_path):
    data = write(tmp_path / "in.jsonl", graded_rows(3, seed=8))
    for args in (["--view", "quality_learned", "--good", data, "--bad", data],
                 ["--view", "quality_model", "--pairs", data],
                 ["--view", "quality_learned", "--data", data],
                 ["--view", "nonsense", "--data", data, "--label-field", "score"]):
        res = train(*args, "--out", str(tmp_path / "m.npz"))
        assert res.exit_code == 2, (args, res.output)
    res = train("--data", data, "--label-field", "score", "--out", str(tmp_path / "qm"))  # grades 0-3, quality_model
    assert res.exit_code == 2 and "--view quality_learned" in res.output
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "qm").exists()


@pytest.mark.skipif(shared_data() is None or not (shared_data() / "self_instruct_model_tiers").is_dir(),
                    reason="needs ../shared/data/self_instruct_model_tiers")
def test_graded_tiers_order_held_out_instructions(tmp_path):
    import gzip

    tiers = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
             "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]
    train_rows, test_rows = [], []
    for t, name in enumerate(tiers):
        path = shared_data() / "self_instruct_model_tiers" / "predictions" / f"{name}_predictions.jsonl.gz"
        with gzip.open(path, "rt") as fh:
            for i, line in enumerate(fh):
                r = json.loads(line)
                row = {"instruction": r["instruction"], "input": r["input"], "output": r["response"], "tier": t}
                (train_rows if i % 2 else test_rows).append(row)
    res = runner.invoke(app, ["train-quality", "--view", "quality_learned", "--data",
                              write(tmp_path / "tiers.jsonl", train_rows), "--label-field", "tier",
                              "--out", str(tmp_path / "m.npz")])
    assert res.exit_code == 0 and "warning" not in res.output, res.output
    pool = with_ids([chat(r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""), r["output"], k)
                     for k, r in enumerate(test_rows)])
    scores = build("quality_learned", {"path": str(tmp_path / "m.npz")}).fit(pool).score_batch(pool).raw
    tier = np.array([r["tier"] for r in test_rows])
    means = [scores[tier == t].mean() for t in range(len(tiers))]
    assert spearmanr(range(len(tiers)), means).correlation >= 0.6, means


def test_a_user_model_retrained_in_place_changes_the_views_cache_key(tmp_path):
    from sft_select.scoring.driver import cache_key

    path = tmp_path / "m.npz"
    data = write(tmp_path / "graded.jsonl", graded_rows(10, seed=1, shared_prompt=True))
    assert train("--view", "quality_learned", "--data", data, "--label-field", "score",
                 "--out", str(path)).exit_code == 0
    view = build("quality_learned", {"path": str(path)})
    before = cache_key(view, "pool", None)
    data = write(tmp_path / "graded2.jsonl", graded_rows(10, seed=2, shared_prompt=True))
    assert train("--view", "quality_learned", "--data", data, "--label-field", "score",
                 "--out", str(path)).exit_code == 0
    assert cache_key(view, "pool", None) != before
