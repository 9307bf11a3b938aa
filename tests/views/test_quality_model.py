"""quality_model: train on good/bad examples, save without pickle, score held-out examples."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.core.errors import ConfigError
from sft_select.views.quality_model import QualityModel, train_quality_model
from sft_select.views.registry import build
from views.viewdata import TOPICS, chat, sentence, with_ids

BAD_KINDS = [
    lambda rng, t: "I'm sorry, but as an AI language model I cannot help with that request.",
    lambda rng, t: " ".join([rng.choice(TOPICS[t].split())] * 3 * rng.randint(4, 9)),  # repetition
    lambda rng, t: "".join(rng.choice("#$%&*@!{}[]<>|~^0123456789") for _ in range(rng.randint(30, 80))),
    lambda rng, t: " ".join(sentence(rng, t).split()[: rng.randint(6, 9)]) + " and then the",  # truncated
    lambda rng, t: "ok",
]


def good_and_bad(n: int, seed: int):
    rng = random.Random(seed)
    good, bad = [], []
    for i in range(n):
        t = rng.choice(list(TOPICS))
        prompt = f"Explain something about {t}: {sentence(rng, t, 8)}"
        good.append(chat(prompt, " ".join(sentence(rng, t, rng.randint(10, 16)) for _ in range(rng.randint(3, 6))), i))
        bad.append(chat(prompt, rng.choice(BAD_KINDS)(rng, t), i))
    return with_ids(good), with_ids(bad)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    good, bad = good_and_bad(60, seed=40)
    folder = tmp_path_factory.mktemp("qm")
    model = train_quality_model(good, bad, embedder="hashing")
    model.store(folder)
    return folder, model


def test_separates_good_from_bad_held_out(trained):
    from sklearn.metrics import roc_auc_score

    folder, model = trained
    good, bad = good_and_bad(40, seed=41)  # a different seed: none of these were trained on
    view = build("quality_model", {"path": str(folder)}).fit(good + bad)
    res = view.score_batch(good + bad)
    y = np.r_[np.ones(len(good)), np.zeros(len(bad))]
    assert roc_auc_score(y, res.raw) >= 0.95
    assert ((res.raw >= 0.5) == y).mean() >= 0.9
    assert model.meta["cv"]["auc"] >= 0.9 and res.reasons[0].startswith("P(good)=")


def test_saved_without_pickle_and_reloads_identically(trained):
    folder, model = trained
    with np.load(folder / "quality_model.npz", allow_pickle=False) as data:
        assert all(data[k].dtype == np.float64 for k in data.files)
    meta = json.loads((folder / "quality_model.json").read_text())
    assert meta["embedder"] == "hashing" and meta["embedder_fingerprint"].startswith("hashing")
    again = QualityModel.load(folder / "quality_model.json")
    good, bad = good_and_bad(5, seed=42)
    np.testing.assert_array_equal(again.predict(good + bad), model.predict(good + bad))


def test_contract_on_a_trained_model(trained, check_contract):
    folder, _ = trained
    good, bad = good_and_bad(12, seed=43)
    check_contract("quality_model", {"path": str(folder)}, good + bad, None)


def test_refuses_missing_foreign_or_mismatched_models(trained, tmp_path):
    folder, _ = trained
    pool = good_and_bad(3, seed=44)[0]
    assert "train-quality" in build("quality_model", {}).skip_reason(pool, None)
    with pytest.raises(ConfigError, match="no trained model"):
        build("quality_model", {"path": str(tmp_path)}).fit(pool)
    (tmp_path / "quality_model.json").write_text((folder / "quality_model.json").read_text())
    np.savez(tmp_path / "quality_model.npz", coef=np.array([{"a": 1}], dtype=object), intercept=np.zeros(1),
             mean=np.zeros(1), scale=np.ones(1))
    with pytest.raises(ConfigError, match="unreadable"):  # an object (pickled) array is never loaded
        QualityModel.load(tmp_path)
    meta = json.loads((folder / "quality_model.json").read_text())
    meta["embedder_fingerprint"] = "some-other-model"
    (tmp_path / "quality_model.json").write_text(json.dumps(meta))
    (tmp_path / "quality_model.npz").write_bytes((folder / "quality_model.npz").read_bytes())
    with pytest.raises(ConfigError, match="retrain"):
        QualityModel.load(tmp_path)


def _write(path, examples, **extra_fields):
    with open(path, "w") as fh:
        for i, ex in enumerate(examples):
            row = {"instruction": ex.prompt, "output": ex.response}
            row.update({k: v[i] for k, v in extra_fields.items()})
            fh.write(json.dumps(row) + "\n")


def test_cli_train_quality_two_files_and_label_field(tmp_path):
    good, bad = good_and_bad(20, seed=45)
    _write(tmp_path / "good.jsonl", good)
    _write(tmp_path / "bad.jsonl", bad)
    runner = CliRunner()
    res = runner.invoke(app, ["train-quality", "--good", str(tmp_path / "good.jsonl"), "--bad",
                              str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "m1"), "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m1" / "quality_model.npz").exists()
    _write(tmp_path / "both.jsonl", good + bad, ok=[1] * len(good) + [0] * len(bad))
    res = runner.invoke(app, ["train-quality", "--data", str(tmp_path / "both.jsonl"), "--label-field", "ok",
                              "--out", str(tmp_path / "m2"), "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m2" / "quality_model.json").read_text())["good"] == len(good)


def test_cli_train_quality_bad_input_exits_2_naming_the_field(tmp_path):
    good, bad = good_and_bad(4, seed=46)
    _write(tmp_path / "both.jsonl", good + bad, ok=[1] * len(good) + ["maybe"] + [0] * (len(bad) - 1))
    runner = CliRunner()
    res = runner.invoke(app, ["train-quality", "--data", str(tmp_path / "both.jsonl"), "--label-field", "ok",
                              "--out", str(tmp_path / "m"), "--embedder", "hashing"])
    assert res.exit_code == 2 and "both.jsonl" in res.output and "'ok'" in res.output and "maybe" in res.output
    res = runner.invoke(app, ["train-quality", "--good", str(tmp_path / "both.jsonl"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "--bad" in res.output


def test_a_model_retrained_in_place_gets_a_new_cache_key(trained, tmp_path):
    """The path parameter alone would key a retrained model's scores like the old model's."""
    import shutil

    from sft_select.scoring.driver import cache_key

    folder = tmp_path / "model"
    shutil.copytree(trained[0], folder)
    view = build("quality_model", {"path": str(folder)})
    before = cache_key(view, "pool", None)
    assert cache_key(view, "pool", None) == before  # stable while the file is unchanged
    good, bad = good_and_bad(30, seed=7)
    train_quality_model(good, bad, embedder="hashing").store(folder)
    assert cache_key(view, "pool", None) != before
    assert cache_key(build("quality_heuristic"), "pool", None) == cache_key(build("quality_heuristic"), "pool", None)
