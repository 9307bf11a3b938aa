"""Label-aware views on labelled text with planted label flips (the right answer is known)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from sft_select.core.record import Example
from sft_select.views.registry import build
from views.viewdata import make_pool, text, with_ids

TOPICS = ["python", "cooking", "astronomy", "finance"]


@pytest.fixture(scope="module")
def flipped_pool() -> tuple[list[Example], np.ndarray]:
    """160 labelled examples, 12 of them with their label flipped to another topic."""
    pool = make_pool({t: 40 for t in TOPICS}, kind="text", seed=30)
    rng = random.Random(31)
    flip = set(rng.sample(range(len(pool)), 12))
    rows = [text(ex.text, rng.choice([t for t in TOPICS if t != ex.label]) if i in flip else ex.label, row=i)
            for i, ex in enumerate(pool)]
    return with_ids(rows), np.array([i in flip for i in range(len(pool))])


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a positive outranks a negative): 1 = every planted flip scores above every clean example."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores))


@pytest.mark.parametrize("features, recall", [("embedding", 0.7), ("both", 0.5)])
def test_quality_label_flags_planted_flips(flipped_pool, features, recall):
    """Every feature view ranks the 12 flips first (AUROC 1.0 here). The flag is cleanlab's estimate of
    the noise rate: the TF-IDF proxy is more confident (C_tfidf=10), so it estimates fewer errors and
    flags 6 of the 12 (the embedding proxy 9), all of them flips."""
    pool, flipped = flipped_pool
    res = build("quality_label", {"model": "hashing", "features": features}).fit(pool).score_batch(pool)
    issue = res.extra["issue"]
    assert issue[flipped].mean() >= recall  # recall of the planted flips
    assert flipped[issue].mean() >= 0.9  # precision of the flags
    assert auc(-res.raw, flipped) >= 0.95  # low label quality = flipped
    flagged = int(np.flatnonzero(issue & flipped)[0])
    assert res.reasons[flagged].startswith("likely label error: given")


def test_difficulty_margin_is_highest_for_flipped_labels(flipped_pool):
    pool, flipped = flipped_pool
    res = build("difficulty_margin", {"model": "hashing"}).fit(pool).score_batch(pool)
    assert auc(res.raw, flipped) >= 0.95  # raw = OOF loss of the given label
    assert (res.extra["margin"][flipped] < 0).mean() >= 0.8
    assert np.all(res.raw >= 0) and "margin" in res.reasons[0]


def test_examples_outside_the_pool_are_scored_out_of_sample(flipped_pool):
    pool, flipped = flipped_pool
    view = build("quality_label", {"model": "hashing"}).fit(pool)
    probe = make_pool({"cooking": 3}, kind="text", seed=32)
    wrong = with_ids([text(probe[0].text, "finance", row=0)])
    right = with_ids([text(probe[1].text, "cooking", row=1)])
    bad, good = view.score_batch(wrong), view.score_batch(right)
    assert bad.extra["issue"][0] and not good.extra["issue"][0]
    assert bad.raw[0] < good.raw[0]
    unknown = view.score_batch(with_ids([text(probe[2].text, "gardening")]))
    assert np.isnan(unknown.raw[0]) and "does not occur" in unknown.reasons[0]


def test_label_views_skip_without_labels_or_with_one_class():
    chat_pool = make_pool({"python": 5}, kind="chat")
    one_class = make_pool({"python": 6}, kind="text")
    for name in ("quality_label", "difficulty_margin"):
        view = build(name, {"model": "hashing"})
        assert "labelled" in view.skip_reason(chat_pool, None)
        assert "two labels" in view.skip_reason(one_class, None)


def test_unlabelled_rows_in_a_labelled_pool_get_no_score(flipped_pool):
    pool, _ = flipped_pool
    mixed = pool[:40] + with_ids([text("an unlabelled python function loop", None, row=99)])
    res = build("difficulty_margin", {"model": "hashing"}).fit(mixed).score_batch(mixed)
    assert np.isnan(res.raw[-1]) and res.reasons[-1] == "no label"
    assert np.isfinite(res.raw[:-1]).all()


def test_a_label_with_one_example_is_not_scored_nor_flagged(flipped_pool):
    """A label seen once cannot be cross-validated: no fold both learns it and tests it, so it always
    looked like a label error (p(given) = 0). It is left out of the fit and says so (issue #23)."""
    pool, _ = flipped_pool
    lone = with_ids(list(pool[:80]) + [text("a python function with a loop and a dictionary", "gardening", row=80)])
    for name in ("quality_label", "difficulty_margin"):
        res = build(name, {"model": "hashing"}).fit(lone).score_batch(lone)
        assert np.isnan(res.raw[-1]) and "only one example" in res.reasons[-1]
        assert np.isfinite(res.raw[:-1]).all()
        if name == "quality_label":
            assert not res.extra["issue"][-1]


def two_view_pool(seed: int = 40) -> tuple[list[Example], np.ndarray]:
    """Labelled rows whose topic only one feature view can see, half for each, 16 of 160 labels flipped.
    Embedding-only rows: topic words with a random suffix each ("planetqzk"): every token is new, so
    TF-IDF drops it (a word in one row has no idf), while character n-grams still match "planet".
    TF-IDF-only rows: plain topic words after 4,000+ characters of filler, past what an embedder reads
    (embed.MAX_CHARS). Filler words are in every row, so TF-IDF gives them no weight."""
    from sft_select.models.embed.embedders import MAX_CHARS
    from views.viewdata import FILLER
    from views.viewdata import TOPICS as VOCAB

    rng = random.Random(seed)
    filler = " ".join(rng.choice(FILLER) for _ in range(MAX_CHARS // 3))
    suffix = "".join(chr(c) for c in range(ord("a"), ord("z") + 1))
    rows = []
    for i in range(160):
        topic = TOPICS[i % 4]
        words = [rng.choice(VOCAB[topic].split()) for _ in range(8)]
        if i % 8 < 4:  # seen by the embedding only
            tail = " ".join(rng.choice(FILLER) for _ in range(12))  # so TF-IDF sees filler in every row
            body = " ".join(w + "".join(rng.choices(suffix, k=3)) for w in words) + " " + tail
        else:  # seen by TF-IDF only
            body = filler + " " + " ".join(words)
        rows.append((body, topic))
    flip = set(rng.sample(range(160), 16))
    pool = [text(body, rng.choice([t for t in TOPICS if t != label]) if i in flip else label, row=i)
            for i, (body, label) in enumerate(rows)]
    return with_ids(pool), np.array([i in flip for i in range(160)])


def test_both_feature_views_find_flips_that_either_alone_misses():
    """Each feature view sees the topic of half the rows: the mixture ranks the flips better than either."""
    pool, flipped = two_view_pool()
    aucs, weights = {}, {}
    for features in ("embedding", "tfidf", "both"):
        view = build("quality_label", {"model": "hashing", "features": features}).fit(pool)
        aucs[features] = auc(-view.score_batch(pool).raw, flipped)
        weights[features] = view.proxy_.weight
    assert aucs["both"] >= max(aucs["embedding"], aucs["tfidf"]) + 0.05, aucs
    assert aucs["both"] >= 0.9, aucs
    assert weights["embedding"] == 1.0 and weights["tfidf"] == 0.0 and 0.0 < weights["both"] < 1.0


def test_features_is_checked_and_tfidf_scores_rows_outside_the_pool(flipped_pool):
    pool, _ = flipped_pool
    with pytest.raises(ValueError, match="features"):
        build("quality_label", {"model": "hashing", "features": "words"}).fit(pool)
    view = build("quality_label", {"model": "hashing", "features": "tfidf"}).fit(pool)
    probe = make_pool({"cooking": 2}, kind="text", seed=33)
    wrong = view.score_batch(with_ids([text(probe[0].text, "finance", row=0)]))
    right = view.score_batch(with_ids([text(probe[1].text, "cooking", row=1)]))
    assert wrong.raw[0] < right.raw[0] and wrong.extra["issue"][0] and not right.extra["issue"][0]
