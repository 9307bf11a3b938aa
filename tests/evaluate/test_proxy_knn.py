"""The knn proxy: deterministic, answers with S's own labels so planted flips cost it what they cost a model
that memorizes S, and is chosen from the config."""
from __future__ import annotations

import pytest
from test_proxy_classifier import topic_examples

from sft_select.config import build_config
from sft_select.errors import ConfigError
from sft_select.evaluate.proxy import build_proxy
from sft_select.evaluate.proxy_classifier import LogRegProxy
from sft_select.evaluate.proxy_knn import KNNProxy


def test_deterministic_and_independent_of_the_seed():
    val, train = topic_examples(60, seed=1), topic_examples(60, seed=5, flip=0.3)
    p = KNNProxy(embedder="hashing")
    a, b, c = p.evaluate(train, val, seed=0), p.evaluate(train, val, seed=0), p.evaluate(train, val, seed=7)
    assert a.value == b.value == c.value and a.metrics == b.metrics


def test_fits_clean_data():
    s = KNNProxy(embedder="hashing").evaluate(topic_examples(120, seed=20), topic_examples(150, seed=1))
    assert s.value > 0.95 and s.n_train == 120
    assert set(s.metrics) == {"accuracy", "macro_f1"}


def test_sees_planted_label_noise_the_linear_proxy_averages_away():
    """~20% of S carries a wrong label: logistic regression stays near perfect, a 1-nearest-neighbour vote
    repeats the flips in their neighbourhoods; a wider vote outvotes part of them."""
    val = topic_examples(150, seed=1)
    clean, noisy = topic_examples(120, seed=20), topic_examples(120, seed=21, flip=0.3)
    lin = LogRegProxy(embedder="hashing")
    assert lin.evaluate(clean, val).value - lin.evaluate(noisy, val).value < 0.03
    drops = {k: KNNProxy(embedder="hashing", k=k).evaluate(clean, val).value
             - KNNProxy(embedder="hashing", k=k).evaluate(noisy, val).value for k in (1, 15)}
    assert drops[1] > 0.08
    assert drops[15] < drops[1]


def test_fewer_rows_than_k_all_vote():
    val = topic_examples(30, seed=1)
    train = topic_examples(3, seed=2)
    assert KNNProxy(embedder="hashing", k=50).evaluate(train, val).n_train == 3


def test_config_selects_it():
    cfg = build_config({"evaluate": {"proxy": "classifier", "classifier": {"model": "knn", "k": 9}}})
    p = build_proxy(cfg.evaluate, topic_examples(5, seed=0), embedder="hashing")
    assert isinstance(p, KNNProxy) and p.describe()["k"] == 9
    with pytest.raises(ConfigError, match="k"):
        build_config({"evaluate": {"classifier": {"model": "knn", "k": 0}}})
    cfg = build_config({"evaluate": {"classifier": {"model": "knn", "class_weight": "balanced"}}})
    with pytest.raises(ConfigError, match="class_weight"):
        build_proxy(cfg.evaluate, topic_examples(5, seed=0), embedder="hashing")
