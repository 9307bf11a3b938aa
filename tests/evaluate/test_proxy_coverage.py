"""Coverage proxy: S near the validation rows scores higher than S off topic; deterministic; wired into the
config and the factory, which picks it on CPU for instruction data."""
from __future__ import annotations

import random

import numpy as np
import pytest

from sft_select.config.schema import build_config
from sft_select.core.errors import ConfigError
from sft_select.core.record import Example, Turn
from sft_select.evaluate import proxy as proxy_module
from sft_select.evaluate.config import EvaluateConfig
from sft_select.evaluate.proxy import build_proxy, proxy_kind
from sft_select.evaluate.proxy_coverage import CoverageProxy, coverage

TOPICS = {
    "cooking": ("How do I {} a {} for dinner?", "bake roast grill fry steam".split(),
                "cake chicken salmon pie risotto soup lasagna".split(),
                "Preheat the oven, season it well, and cook until golden; rest before serving."),
    "code": ("Write a Python function to {} a {}.", "sort reverse parse merge validate".split(),
             "list dictionary string tree matrix graph queue".split(),
             "def solve(x):\n    return sorted(x)  # a short loop over the items does it"),
    "travel": ("What should I see when I {} in {}?", "travel stay hike wander drive".split(),
               "Paris Kyoto Lisbon Cairo Lima Oslo Hanoi".split(),
               "Visit the old town, the museums and the markets, and take a day trip by train."),
}


def make(topic: str, n: int, seed: int, tag: str = "") -> list[Example]:
    template, verbs, nouns, answer = TOPICS[topic]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = template.format(rng.choice(verbs), rng.choice(nouns)) + tag
        turns = (Turn("user", prompt), Turn("assistant", answer))
        out.append(Example(id=f"{topic}{seed}{tag}-{i}", source="t", row=i, format="openai", original={},
                           turns=turns))
    return out


def near_copies(rows: list[Example]) -> list[Example]:
    """The same rows with one word added: close in embedding space, not identical."""
    return [Example(id=f"copy-{ex.id}", source="t", row=ex.row, format="openai", original={},
                    turns=(Turn("user", ex.prompt + " Please."), Turn("assistant", ex.response)))
            for ex in rows]


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("field", ["prompt", "response", "full"])
def test_near_copies_of_validation_beat_an_unrelated_topic(field, k):
    val = make("cooking", 20, seed=1)
    on_topic = near_copies(val[:10]) + make("code", 30, seed=2)
    off_topic = make("code", 20, seed=3) + make("travel", 20, seed=4)
    p = CoverageProxy(embedder="hashing", field=field, k=k)
    good, bad = p.evaluate(on_topic, val), p.evaluate(off_topic, val)
    assert good.value > bad.value
    assert good.n_train == 40 and good.metrics["coverage"] == good.value
    assert p.describe() == {"name": "coverage", "metric": "coverage", "embedder": "hashing", "field": field, "k": k}


def test_deterministic_and_independent_of_order_and_seed():
    val = make("cooking", 15, seed=1) + make("travel", 15, seed=5)
    train = make("cooking", 25, seed=2) + make("code", 25, seed=3)
    p = CoverageProxy(embedder="hashing", field="full", k=3)
    a = p.evaluate(train, val, seed=0).value
    assert p.evaluate(train, val, seed=7).value == a
    assert p.evaluate(list(reversed(train)), val).value == pytest.approx(a, abs=1e-6)


def test_coverage_blocks_and_k():
    """Blockwise top-k equals the plain computation; k larger than S averages all of S."""
    rng = np.random.default_rng(0)
    val = rng.normal(size=(7, 5)).astype(np.float32)
    sub = rng.normal(size=(9000, 5)).astype(np.float32)
    val /= np.linalg.norm(val, axis=1, keepdims=True)
    sub /= np.linalg.norm(sub, axis=1, keepdims=True)
    sims = val @ sub.T
    for k in (1, 3):
        want = -np.sort(-sims, axis=1)[:, :k].mean(axis=1)
        assert np.allclose(coverage(val, sub, k), want, atol=1e-6)
    assert np.allclose(coverage(val, sub[:2], k=5), sims[:, :2].mean(axis=1), atol=1e-6)


def test_adding_rows_never_lowers_coverage():
    val = make("cooking", 10, seed=1)
    small = make("travel", 10, seed=2)
    p = CoverageProxy(embedder="hashing")
    assert p.evaluate(small + make("cooking", 5, seed=9), val).value >= p.evaluate(small, val).value


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="field"):
        CoverageProxy(field="instruction")
    with pytest.raises(ValueError):
        CoverageProxy(embedder="hashing").evaluate([], make("cooking", 3, seed=1))
    with pytest.raises(ConfigError):
        build_config({"evaluate": {"coverage": {"field": "answer"}}})


def test_config_and_factory():
    cfg = build_config({"evaluate": {"proxy": "coverage", "coverage": {"field": "full", "k": 2}}})
    p = build_proxy(cfg.evaluate, make("cooking", 3, seed=1), embedder="hashing")
    assert isinstance(p, CoverageProxy) and (p.field, p.k, p.embedder) == ("full", 2, "hashing")
    default = EvaluateConfig().coverage
    assert (default.field, default.k) == ("full", 5)
    assert CoverageProxy().describe()["field"] == "full" and CoverageProxy().k == 5


def test_auto_picks_coverage_on_cpu_lm_on_gpu_classifier_for_labels(monkeypatch):
    chat = make("cooking", 3, seed=1)
    labelled = [Example(id=f"l{i}", source="t", row=i, format="text_label", original={}, text=f"text {i}",
                        label="a" if i % 2 else "b") for i in range(4)]
    monkeypatch.setattr(proxy_module, "_gpu", lambda: False)
    assert proxy_kind(EvaluateConfig(), chat) == "coverage"
    assert build_proxy(EvaluateConfig(), chat, embedder="hashing").name == "coverage"
    assert build_proxy(EvaluateConfig(), labelled, embedder="hashing").name == "logreg"
    assert proxy_kind(EvaluateConfig(proxy="lm"), chat) == "lm"  # asked for, it is kept
    monkeypatch.setattr(proxy_module, "_gpu", lambda: True)
    assert proxy_kind(EvaluateConfig(), chat) == "lm"
    assert proxy_kind(EvaluateConfig(), labelled) == "classifier"
