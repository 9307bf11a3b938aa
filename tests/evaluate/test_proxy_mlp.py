"""The mlp proxy: seeded and deterministic, fits S, sees planted label flips that logistic regression
averages away, and is chosen from the config."""
from __future__ import annotations

import pytest
import yaml
from test_proxy_classifier import topic_examples

from sft_select.config.schema import build_config, dump_config, load_config
from sft_select.core.errors import ConfigError
from sft_select.evaluate.proxy import build_proxy
from sft_select.evaluate.proxy_classifier import LogRegProxy
from sft_select.evaluate.proxy_mlp import MLPProxy

# Small enough for a test (a few hundred Adam steps on 512 hashing features), large enough to memorize.
SMALL = {"embedder": "hashing", "hidden": 32, "epochs": 100, "batch_size": 20}


def test_deterministic_under_a_seed():
    val, train = topic_examples(60, seed=1), topic_examples(60, seed=5, flip=0.3)
    p = MLPProxy(**SMALL)
    a, b = p.evaluate(train, val, seed=0), p.evaluate(train, val, seed=0)
    assert a.value == b.value and a.metrics == b.metrics


def test_fits_clean_data():
    val = topic_examples(150, seed=1)
    s = MLPProxy(**SMALL).evaluate(topic_examples(120, seed=20), val)
    assert s.value > 0.95 and s.n_train == 120
    assert s.metrics["train_accuracy"] == 1.0
    assert set(s.metrics) == {"accuracy", "macro_f1", "train_accuracy"}


def test_sees_planted_label_noise_the_linear_proxy_averages_away():
    """~20% of S carries a wrong label (flip 0.3 draws among 3 classes): logistic regression stays near
    perfect on validation, the network fits part of the flips and loses points, as a fine-tune does."""
    val = topic_examples(150, seed=1)
    # Distinct seeds, hence distinct ids: embeddings are memoized by example id.
    clean, noisy = topic_examples(120, seed=20), topic_examples(120, seed=21, flip=0.3)
    lin = LogRegProxy(embedder="hashing")
    lin_drop = lin.evaluate(clean, val).value - lin.evaluate(noisy, val).value
    mlp = MLPProxy(**SMALL)
    mlp_drop = mlp.evaluate(clean, val).value - mlp.evaluate(noisy, val).value
    assert lin_drop < 0.03
    assert mlp_drop > 0.08
    assert mlp.last_train_accuracy > 0.85  # fits S, most flipped rows included (only ~80% are right)


def test_one_class_in_s_predicts_that_class():
    val = topic_examples(30, seed=1)
    train = [ex for ex in topic_examples(60, seed=2) if ex.label == "food"]
    s = MLPProxy(**SMALL).evaluate(train, val)
    assert s.metrics["accuracy"] == pytest.approx(sum(ex.label == "food" for ex in val) / len(val))


def test_config_selects_it_and_round_trips(tmp_path):
    cfg = build_config({"evaluate": {"proxy": "classifier", "classifier": {
        "model": "mlp", "mlp": {"hidden": 64, "alpha": 0.001, "epochs": 50}}}})
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg))
    again = load_config(path)
    assert again.evaluate == cfg.evaluate
    assert yaml.safe_load(path.read_text())["evaluate"]["classifier"]["model"] == "mlp"
    p = build_proxy(again.evaluate, topic_examples(5, seed=0), embedder="hashing")
    assert isinstance(p, MLPProxy)
    d = p.describe()
    assert (d["hidden"], d["alpha"], d["epochs"], d["embedder"]) == (64, 0.001, 50, "hashing")
    # The default stays the linear proxy.
    assert build_proxy(build_config({}).evaluate, topic_examples(5, seed=0), embedder="hashing").name == "logreg"


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="model"):
        build_config({"evaluate": {"classifier": {"model": "mlpp"}}})
    with pytest.raises(ConfigError, match="hidden"):
        build_config({"evaluate": {"classifier": {"model": "mlp", "mlp": {"hidden": 0}}}})
    cfg = build_config({"evaluate": {"classifier": {"model": "mlp", "class_weight": "balanced"}}})
    with pytest.raises(ConfigError, match="class_weight"):
        build_proxy(cfg.evaluate, topic_examples(5, seed=0), embedder="hashing")


def test_fit_flushes_denormals_and_clears_the_flag_after():
    """The network trains with denormals flushed to zero (its slow path once it memorizes S), and the
    thread's flag is cleared again, so no later float computation of the run changes."""
    import numpy as np

    from sft_select.evaluate.proxy_mlp import flush_denormals

    tiny = np.float32(1e-30)  # tiny * 1e-10 = 1e-40: below float32's smallest normal number
    assert tiny * np.float32(1e-10) != 0
    with flush_denormals() as supported:
        if not supported:
            pytest.skip("this CPU has no flush-to-zero flag")
        assert tiny * np.float32(1e-10) == 0
    assert tiny * np.float32(1e-10) != 0
    p = MLPProxy(**SMALL)
    p.evaluate(topic_examples(60, seed=5, flip=0.3), topic_examples(30, seed=1))
    assert tiny * np.float32(1e-10) != 0


def test_flat_classifier_keys_of_earlier_versions_still_load():
    old = build_config({"evaluate": {"classifier": {"model": "mlp", "hidden": 64, "alpha": 0.001, "mlp_epochs": 50,
                                                    "C": 2.0, "encoder": "/models/enc", "lr": 1e-4}}}).evaluate
    new = build_config({"evaluate": {"classifier": {
        "model": "mlp", "mlp": {"hidden": 64, "alpha": 0.001, "epochs": 50}, "logreg": {"C": 2.0},
        "encoder": {"path": "/models/enc", "lr": 1e-4}}}}).evaluate
    assert old == new
    with pytest.raises(ConfigError, match="hidden"):
        build_config({"evaluate": {"classifier": {"hidden": 0}}})
