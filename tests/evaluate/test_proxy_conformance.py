"""Every registered proxy, fitted on small generated data: finite scores, deterministic under a seed, the
contract's members (`name`, `metric`, `describe`), per-row outcomes that average to the value, inputs left
as they were. A new proxy (evaluate/proxy.py's PROXIES or CLASSIFIERS) must add its small settings below."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from eval_helpers import chat_examples, one_torch_thread, tiny_lm  # noqa: F401  (fixtures)
from test_proxy_classifier import topic_examples

from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.proxy import CLASSIFIERS, PROXIES, build_proxy


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from sft_select.models.embed.embedders import minilm_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertForSequenceClassification(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return str(folder)


def small_settings(name: str, request) -> dict:
    """The `evaluate` section that builds proxy `name` small enough to fit in a fraction of a second or so."""
    if name == "logreg":
        return {"proxy": "classifier", "classifier": {"model": "logreg"}}
    if name == "mlp":
        return {"proxy": "classifier", "classifier": {"model": "mlp", "mlp": {"hidden": 16, "epochs": 20}}}
    if name == "encoder":
        return {"proxy": "classifier", "classifier": {"model": "encoder", "encoder": {
            "path": request.getfixturevalue("tiny_encoder"), "epochs": 1, "batch_size": 16, "max_length": 16}}}
    if name == "coverage":
        return {"proxy": "coverage", "coverage": {"k": 2}}
    if name == "lm":
        return {"proxy": "lm", "lm": {"model": request.getfixturevalue("tiny_lm"), "token_budget": 300,
                                      "max_length": 48, "batch_size": 4, "lora_r": 2, "max_validation": 8,
                                      "device": "cpu"}}
    raise KeyError(name)


NAMES = sorted({*CLASSIFIERS, *(k for k in PROXIES if k != "classifier")})


def data_for(name: str):
    if name in CLASSIFIERS:
        return topic_examples(40, seed=2), topic_examples(20, seed=1)
    return chat_examples(12, seed=0), chat_examples(6, seed=1)


def test_every_registered_proxy_is_covered(request):
    for name in NAMES:
        assert small_settings(name, request), name


@pytest.mark.parametrize("name", NAMES)
def test_proxy_conformance(name, request):
    cfg = EvaluateConfig.model_validate(small_settings(name, request))
    train, validation = data_for(name)
    proxy = build_proxy(cfg, train, embedder="hashing")
    assert isinstance(proxy.name, str) and isinstance(proxy.metric, str)
    described = proxy.describe()
    assert isinstance(described, dict) and described.get("name") == proxy.name
    before = copy.deepcopy((train, validation))

    a = proxy.evaluate(train, validation, seed=3)
    assert math.isfinite(a.value)
    assert all(math.isfinite(v) for v in a.metrics.values() if isinstance(v, float))
    assert a.n_train == len(train) and a.seconds >= 0
    assert (train, validation) == before, "a proxy never changes the examples it is given"
    if a.per_row is not None:
        assert len(a.per_row) == len(validation) or name == "lm"
        assert np.isfinite(a.per_row).all()

    b = build_proxy(cfg, train, embedder="hashing").evaluate(train, validation, seed=3)
    assert b.value == a.value and b.metrics == a.metrics, "deterministic for the same S, validation and seed"
