"""relevance_learned: a target-vs-pool classifier ranks the target's topic first, seeded and cross-fitted."""
from __future__ import annotations

import numpy as np
import pytest

from sft_select.views.registry import build
from views.viewdata import make_pool, topic_of, with_ids

PARAMS = {"model": "hashing"}


def precision_at(raw, on_target, k):
    return float(np.mean(on_target[np.argsort(-raw, kind="stable")[:k]]))


def topic_pool(seed=20):
    pool = make_pool({"python": 40, "cooking": 40, "astronomy": 40, "finance": 40}, kind="chat", seed=seed)
    target = make_pool({"python": 10}, kind="chat", seed=seed + 1)
    return pool, target, np.array([topic_of(ex) == "python" for ex in pool])


def test_ranks_the_target_topic_first_at_least_as_well_as_embedding_similarity():
    pool, target, on_target = topic_pool()
    learned = build("relevance_learned", PARAMS).fit(pool, target).score_batch(pool).raw
    nearest = build("relevance_embedding", PARAMS).fit(pool, target).score_batch(pool).raw
    assert precision_at(learned, on_target, 40) >= max(0.9, precision_at(nearest, on_target, 40))
    assert learned[on_target].min() > np.median(learned[~on_target])


def test_deterministic_under_a_seed_and_the_seed_draws_the_negatives():
    pool, target, _ = topic_pool()
    params = {**PARAMS, "negatives": 60}
    a = build("relevance_learned", {**params, "seed": 3}).fit(pool, target).score_batch(pool)
    b = build("relevance_learned", {**params, "seed": 3}).fit(pool, target).score_batch(pool)
    c = build("relevance_learned", {**params, "seed": 4}).fit(pool, target).score_batch(pool)
    assert a.raw.tolist() == b.raw.tolist() and a.reasons == b.reasons
    assert not np.allclose(a.raw, c.raw)


def test_a_pool_row_is_scored_by_the_fold_that_did_not_learn_it():
    """Cross-fitting: a negative is scored out of sample (its fold's model); any other row, even with the
    same text under another id, by the folds' mean. With one fold there is one model for both."""
    pool, target, on_target = topic_pool()
    row = pool[int(np.flatnonzero(on_target)[0])]
    twin = with_ids([row, row])[1]  # same content, another id: not one of the fitted negatives
    assert twin.id != row.id
    one = build("relevance_learned", {**PARAMS, "folds": 1}).fit(pool, target).score_batch([row, twin]).raw
    assert one[0] == pytest.approx(one[1])
    crossed = build("relevance_learned", {**PARAMS, "folds": 4}).fit(pool, target)
    assert row.id in crossed.fold_by_id_
    raw = crossed.score_batch([row, twin]).raw
    assert raw[0] != pytest.approx(raw[1])


def test_reasons_split_the_log_odds_into_words_and_meaning():
    pool, target, _ = topic_pool()
    res = build("relevance_learned", {**PARAMS, "word_weight": 1.0}).fit(pool, target).score_batch(pool[:3])
    for raw, reason in zip(res.raw, res.reasons):
        total, words, meaning = (float(x) for x in
                                 reason.replace("log-odds ", "").replace("(words ", "").replace("meaning ", "")
                                 .rstrip(")").replace(",", "").split())
        assert total == pytest.approx(raw, abs=0.006) and total == pytest.approx(words + meaning, abs=0.02)


def test_by_default_meaning_only_and_words_only_needs_no_embedding_weight():
    pool, target, on_target = topic_pool()
    view = build("relevance_learned", PARAMS).fit(pool, target)
    assert view.models_[0][0] is None and view.score_batch(pool[:1]).reasons[0].endswith("(meaning)")
    words = build("relevance_learned", {**PARAMS, "embedding_weight": 0.0, "word_weight": 1.0}).fit(pool, target)
    assert words.models_[0][1] is None
    assert precision_at(words.score_batch(pool).raw, on_target, 40) >= 0.9


def test_the_fit_sees_the_target_and_at_most_negatives_pool_rows(monkeypatch):
    """The fit's cost does not grow with the pool: it embeds the target plus a bounded sample."""
    import sft_select.views.relevance_learned as module

    seen = []
    real = module.embed_examples
    monkeypatch.setattr(module, "embed_examples", lambda batch, model: seen.append(len(batch)) or real(batch, model))
    pool, target, _ = topic_pool()
    build("relevance_learned", {**PARAMS, "negatives": 50}).fit(pool, target)
    assert seen == [len(target) + 50]


@pytest.mark.parametrize("bad", [{"negatives": 1}, {"folds": 0}, {"drop": 1.0}, {"C": 0.0}, {"embedding_weight": -1.0},
                                 {"embedding_weight": 0.0}, {"word_weight": -1.0}])
def test_bad_parameters_fail_at_fit_naming_the_rule(bad):
    pool, target, _ = topic_pool()
    with pytest.raises(ValueError, match="negatives must be"):
        build("relevance_learned", {**PARAMS, **bad}).fit(pool, target)


def test_needs_a_target():
    pool, _, _ = topic_pool()
    assert "target" in build("relevance_learned", PARAMS).skip_reason(pool, None)
    with pytest.raises(ValueError, match="target"):
        build("relevance_learned", PARAMS).fit(pool, None)


def test_adding_it_to_the_default_relevance_views_keeps_the_target_topic_on_top():
    """A default run with a target averages the rank-normalized relevance views: with relevance_learned
    the target's topic still fills the top, and no worse than with the other two alone."""
    from sft_select.selection.combine import normalize

    pool, target, on_target = topic_pool(seed=30)
    raw = {name: build(name, PARAMS if name != "relevance_dsir" else {}).fit(pool, target).score_batch(pool).raw
           for name in ("relevance_embedding", "relevance_dsir", "relevance_learned")}
    ranked = {name: normalize(r, "rank") for name, r in raw.items()}
    before = ranked["relevance_embedding"] + ranked["relevance_dsir"]
    after = before + ranked["relevance_learned"]
    assert precision_at(after, on_target, 40) >= max(0.9, precision_at(before, on_target, 40))
    assert precision_at(-after, on_target, 80) == 0.0  # the bottom half is off target
