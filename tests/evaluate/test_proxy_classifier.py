"""Classifier proxies: accuracy and macro-F1 on validation, label noise in S lowers f, class weights."""
from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import chat_examples, one_torch_thread  # noqa: F401  (fixture)

from sft_select.core.record import Example
from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.proxy import build_proxy
from sft_select.evaluate.proxy_classifier import LogRegProxy

TOPICS = {
    "sport": "match goal team player score league coach season win referee".split(),
    "food": "recipe bake flour sugar oven taste dinner spice salad cook".split(),
    "tech": "laptop software code server chip network battery screen app cloud".split(),
}


def topic_examples(n: int, seed: int, flip: float = 0.0, shares=(1 / 3, 1 / 3, 1 / 3)):
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    out = []
    for i in range(n):
        t = names[rng.choice(3, p=shares)]
        words = list(rng.choice(TOPICS[t], 6)) + list(rng.choice(sum(TOPICS.values(), []), 2))
        label = names[rng.integers(3)] if rng.random() < flip else t
        text = " ".join(words)
        out.append(Example(id=f"s{seed}-{i}", source="t", row=i, format="text_label", original={"text": text},
                           text=text, label=label))
    return out


def test_clean_data_scores_high_and_noise_lowers_it():
    val = topic_examples(150, seed=1)
    p = LogRegProxy(embedder="hashing")
    clean = p.evaluate(topic_examples(120, seed=2), val)
    # Another seed, hence other ids: embeddings are memoized by example id, so reusing seed 2 would pair the
    # clean texts' vectors with the noisy draw's labels.
    noisy = p.evaluate(topic_examples(120, seed=3, flip=0.6), val)
    assert clean.value > 0.9 and set(clean.metrics) == {"accuracy", "macro_f1"}
    assert noisy.value < clean.value
    assert clean.n_train == 120


def test_deterministic():
    val, train = topic_examples(60, seed=1), topic_examples(60, seed=3, flip=0.3)
    p = LogRegProxy(embedder="hashing")
    assert p.evaluate(train, val, seed=0).value == p.evaluate(train, val, seed=0).value


def test_one_class_in_s_predicts_that_class():
    val = topic_examples(30, seed=1)
    train = [ex for ex in topic_examples(60, seed=2) if ex.label == "food"]
    s = LogRegProxy(embedder="hashing").evaluate(train, val)
    assert s.metrics["accuracy"] == pytest.approx(np.mean([ex.label == "food" for ex in val]))


def test_class_weights_help_the_minority_macro_f1():
    val = topic_examples(300, seed=1)
    train = topic_examples(200, seed=4, shares=(0.9, 0.08, 0.02))
    plain = LogRegProxy(embedder="hashing", metric="macro_f1", C=0.05).evaluate(train, val)
    weighted = LogRegProxy(embedder="hashing", metric="macro_f1", C=0.05, class_weight="balanced").evaluate(train, val)
    assert weighted.value > plain.value


def test_factory_picks_by_data():
    labelled = topic_examples(5, seed=0)
    assert build_proxy(EvaluateConfig(), labelled, embedder="hashing").name == "logreg"
    assert build_proxy(EvaluateConfig(proxy="lm"), chat_examples(3), embedder="hashing").name == "lora_lm"
    from sft_select.core.errors import ConfigError

    with pytest.raises(ConfigError, match="labelled"):
        build_proxy(EvaluateConfig(proxy="classifier"), chat_examples(3), embedder="hashing")


def test_encoder_proxy_learns(tmp_path):
    """A tiny randomly initialized BERT fine-tuned on S beats chance on separable topics."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from sft_select.evaluate.proxy_encoder import EncoderProxy
    from sft_select.models.embed.embedders import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertForSequenceClassification(cfg).save_pretrained(str(tmp_path))
    tok.save_pretrained(str(tmp_path))
    p = EncoderProxy(model=str(tmp_path), epochs=8, lr=3e-3, batch_size=16, max_length=16, device="cpu")
    s = p.evaluate(topic_examples(96, seed=2), topic_examples(60, seed=1))
    assert s.value > 0.6
