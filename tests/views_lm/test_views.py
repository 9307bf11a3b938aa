"""The three LM views on SmolLM2 with a handful of short examples (one model per session)."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.models.lm.stats import compute_stats, lm_stats
from sft_select.views import build, registered
from sft_select.views.lm_difficulty import DifficultyIFD, DifficultyLoss
from sft_select.views.lm_quality import QualityFluency

from .conftest import chat

FLUENT = [
    chat("Describe the weather today.", "It is a sunny day with a light breeze and a few clouds in the sky.", 0),
    chat("What do cats eat?", "Cats are carnivores, so they mostly eat meat such as chicken or fish.", 1),
]
GARBAGE = [
    chat("Describe the weather today.", "xq zv ptl wrrk jjb qopz mmn vvx tttk lorp znnf gh", 2),
    chat("What do cats eat?", "eat fish cats the such meat mostly, carnivores are so chicken they as", 3),
]
FACT = "The Zorblat river is 412 kilometres long and flows through the town of Quennick."
HELPFUL = chat(f"Read this: {FACT} How long is the Zorblat river and where does it flow?", FACT, 4)
UNRELATED = chat("Name three kinds of fruit.", FACT, 5)


def test_registered_with_their_contract():
    views = registered()
    for name, group, better in [("difficulty_ifd", "difficulty", True), ("difficulty_loss", "difficulty", True),
                                ("quality_fluency", "quality", False)]:
        cls = views[name]
        assert (cls.group, cls.higher_is_better, cls.cpu_fast, cls.needs) == (group, better, False, {"instruction"})


def test_garbage_text_has_higher_perplexity_than_fluent(smollm):
    raw = QualityFluency(device="cpu").fit(FLUENT + GARBAGE).score_batch(FLUENT + GARBAGE).raw
    assert raw[:2].max() < raw[2:].min()
    assert raw[2:].min() > 3 * raw[:2].max()


def test_ifd_is_lower_when_the_prompt_helps(smollm):
    result = DifficultyIFD(device="cpu").score_batch([HELPFUL, UNRELATED])
    stats = lm_stats([HELPFUL, UNRELATED], model="smollm2-135m", max_tokens=512, batch_tokens=1024, device="cpu")
    ifd = np.exp(stats[:, 0] - stats[:, 1])
    assert ifd[0] < 0.5 * ifd[1]
    assert result.raw[0] == pytest.approx(ifd[0])
    # An unrelated prompt does not help: IFD >= 1 counts as misaligned and contributes nothing.
    assert ifd[1] >= 1 and math.isnan(result.raw[1]) and "does not help" in result.reasons[1]


def test_batch_equals_one_by_one(smollm):
    batch = [FLUENT[0], GARBAGE[1], HELPFUL, UNRELATED]  # different lengths: padding in every batch
    together = compute_stats(smollm, batch, max_tokens=512, batch_tokens=4096)
    alone = np.vstack([compute_stats(smollm, [ex], max_tokens=512, batch_tokens=4096) for ex in batch])
    np.testing.assert_allclose(together, alone, atol=1e-4, rtol=0)


def test_views_share_one_set_of_statistics(smollm, monkeypatch, stats_cache):
    batch = FLUENT + [HELPFUL]
    loss = DifficultyLoss(device="cpu").score_batch(batch).raw
    import sft_select.models.lm.stats as lm_stats

    def no_forward(*args, **kwargs):
        raise AssertionError("statistics were recomputed instead of read from the cache")

    monkeypatch.setattr(lm_stats, "compute_stats", no_forward)
    ppl = QualityFluency(device="cpu").score_batch(batch).raw  # from memory
    lm_stats.LMStatsStore.clear()
    again = DifficultyLoss(device="cpu").score_batch(batch).raw  # from the shards on disk
    np.testing.assert_array_equal(loss, again)
    assert np.all(ppl > 1) and np.all(np.isfinite(loss))
    shards = list(stats_cache.rglob("*.ids.npy"))  # core/shard_cache.py: <shard>.npy + <shard>.ids.npy
    assert shards
    rows = np.load(str(shards[0]).removesuffix(".ids.npy") + ".npy", allow_pickle=False)
    assert rows.dtype == np.float64 and rows.shape[1] == len(lm_stats.COLUMNS)


def test_stats_store_reads_shards_of_other_processes_and_the_old_npz(stats_cache):
    from sft_select.core.shard_cache import ShardCache
    from sft_select.models.lm.stats import COLUMNS, LMStatsStore

    key = "k"
    LMStatsStore.put(key, ["a"], np.ones((1, len(COLUMNS))))
    assert LMStatsStore.lookup(key, ["a", "b"])[1] is None
    ShardCache(LMStatsStore.folder(key)).put(["b"], np.full((1, len(COLUMNS)), 2.0))  # another process
    got = LMStatsStore.lookup(key, ["a", "b"])
    assert got[0][0] == 1.0 and got[1][0] == 2.0
    old = LMStatsStore.folder("old")  # an earlier version's shard: ids + stats in one npz
    old.mkdir(parents=True)
    np.savez(old / "x.npz", ids=np.array(["c"]), stats=np.full((1, len(COLUMNS)), 3.0))
    assert LMStatsStore.lookup("old", ["c"])[0][0] == 3.0


def test_empty_and_missing_responses_are_nan_with_a_reason(smollm):
    text = Example(id="t1", source="test", row=0, format="text", original={}, text="just text", label="a")
    batch = [chat("Say something.", "   ", 0), chat("Say something.", None, 1), text, FLUENT[0]]
    result = QualityFluency(device="cpu").score_batch(batch)
    assert np.isnan(result.raw[:3]).all() and np.isfinite(result.raw[3])
    assert result.reasons[:3] == ["empty response", "empty response", "not an instruction example"]


def test_no_prompt_scores_fluency_but_not_ifd(smollm):
    alone = chat("", "The sun rises in the east and sets in the west.", 0)
    assert math.isnan(DifficultyIFD(device="cpu").score_batch([alone]).raw[0])
    assert DifficultyIFD(device="cpu").score_batch([alone]).reasons == ["no prompt"]
    assert np.isfinite(QualityFluency(device="cpu").score_batch([alone]).raw[0])


def test_long_texts_are_truncated_and_say_so(smollm):
    huge = chat("Summarize: " + "the cat sat on the mat. " * 40_000, "A cat sat on a mat. " * 50_000, 0)
    result = DifficultyLoss(device="cpu", max_tokens=64).score_batch([huge, FLUENT[0]])
    assert np.isfinite(result.raw).all()
    assert result.reasons[0].endswith("truncated to max_tokens") and "over 64 response tokens" in result.reasons[0]
    assert "truncated" not in result.reasons[1]


def test_cpu_estimate_is_printed_when_scoring_starts(smollm, monkeypatch):
    import sft_select.views.lm_base as lm_base

    said: list[str] = []
    monkeypatch.setattr(lm_base, "info", said.append)
    view = DifficultyLoss(device="cpu").fit(FLUENT)
    assert said == []  # other LM views may still join the pass: it is announced when scoring starts
    view.score_batch(FLUENT)
    assert len(said) == 1 and "2 examples" in said[0] and "tokens" in said[0] and "min" in said[0]


def test_one_estimate_per_shared_pass_naming_its_views(monkeypatch):
    """The three LM views share one forward pass per example: one estimate, not three (no model needed)."""
    import sft_select.views.lm_base as lm_base

    said: list[str] = []
    counted: list[int] = []

    def pending(pool, **params):
        counted.append(len(pool))
        return len(pool), 1234 * len(pool)

    monkeypatch.setattr(lm_base, "info", said.append)
    monkeypatch.setattr(lm_base, "pending_tokens", pending)
    monkeypatch.setattr(lm_base, "lm_stats", lambda batch, **kw: np.tile([1.0, 2.0, 5, 5, 0, 1], (len(batch), 1)))
    views = [cls(device="cpu").fit(FLUENT + GARBAGE) for cls in (DifficultyIFD, DifficultyLoss, QualityFluency)]
    other = DifficultyLoss(device="cpu", max_tokens=64).fit(FLUENT)  # other settings: a pass of its own
    for view in views + [other]:
        view.score_batch(FLUENT)
    assert counted == [4, 2]  # the pool is tokenized once per pass, not once per view
    assert len(said) == 2
    assert said[0].startswith("difficulty_ifd, difficulty_loss, quality_fluency: one shared pass of 4 examples "
                              "(4,936 tokens)")
    assert said[1].startswith("difficulty_loss: one shared pass of 2 examples")
    views[0].fit(FLUENT + GARBAGE).score_batch(FLUENT)  # a new run over the same pool: a new estimate
    assert len(said) == 3 and said[2].startswith("difficulty_ifd: one shared pass of 4 examples")


def test_the_forward_passes_report_progress_by_token(smollm, monkeypatch):
    """A CPU batch of 512 examples takes minutes: its bar advances per forward batch, in tokens."""
    import sft_select.models.lm.stats as stats

    seen = {"done": 0}

    class Recorder:
        def __init__(self, desc, total):
            seen["desc"], seen["total"] = desc, total

        def __enter__(self):
            def advance(n):
                seen["done"] += n
                seen.setdefault("steps", 0)
                seen["steps"] += 1
            return advance

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(stats, "progress_bar", Recorder)
    batch = FLUENT + GARBAGE + [HELPFUL, UNRELATED]
    compute_stats(smollm, batch, max_tokens=512, batch_tokens=64)  # small batches: several forward passes
    assert seen["total"] > 0 and seen["done"] == seen["total"] and seen["steps"] > 2
    assert "6 examples" in seen["desc"] and "tokens" in seen["desc"]


def test_picklable_without_live_model(smollm):
    view = QualityFluency(device="cpu", max_tokens=64).fit(FLUENT)
    view.score_batch(FLUENT)
    clone = pickle.loads(pickle.dumps(view))
    assert clone.get_params() == view.get_params()
    assert len(pickle.dumps(view)) < 2000  # parameters only, never the model
    np.testing.assert_array_equal(clone.score_batch(FLUENT).raw, view.score_batch(FLUENT).raw)


@pytest.mark.parametrize("params", [{"max_tokens": 0}, {"batch_tokens": "big"}, {"device": "tpu"}, {"dtype": "int4"}])
def test_bad_parameters_are_config_errors(params):
    with pytest.raises(ConfigError, match="difficulty_loss"):  # at build (a wrong type) or first use
        build("difficulty_loss", params).score_batch(FLUENT)
