"""Every strategy: deterministic under a seed, never over N or the token budget, a reason for every drop."""
from __future__ import annotations

import numpy as np
import pytest
from sel_helpers import ArrayContext, make_pool

from sft_select.core.errors import ConfigError
from sft_select.selection.budget import token_counts
from sft_select.selection.config import SelectConfig
from sft_select.selection.strategies import STRATEGIES, select

ALL = sorted(STRATEGIES)


def context(examples, seed=0):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(examples), 16))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return ArrayContext(examples, {ex.id: v for ex, v in zip(examples, vecs)})


@pytest.mark.parametrize("strategy", ALL)
def test_deterministic_and_bounded(strategy):
    table, examples = make_pool()
    ctx = context(examples)
    cfg = SelectConfig(strategy=strategy, n=37, greedy={"tau_div": 0.5})
    a = select(table, cfg, seed=3, ctx=ctx)
    b = select(table.sample(frac=1.0, random_state=1).sort_index(), cfg, seed=3, ctx=context(examples))
    assert np.array_equal(a.keep, b.keep) and a.reasons == b.reasons
    assert 0 < a.keep.sum() <= 37
    assert not (a.keep & table["reason"].notna().to_numpy()).any(), "a filtered row is never selected"
    dropped = ~a.keep
    assert all(a.reasons[i] for i in np.flatnonzero(dropped)), "every unselected row says why"
    assert all(a.reasons[i] is None for i in np.flatnonzero(a.keep))


@pytest.mark.parametrize("strategy", ALL)
def test_token_budget_is_respected(strategy):
    table, examples = make_pool()
    cfg = SelectConfig(strategy=strategy, budget_tokens=250, tokenizer="regex", greedy={"tau_div": 0.5})
    sel = select(table, cfg, ctx=context(examples))
    tokens = token_counts(examples, "regex")
    used = tokens[sel.keep].sum()
    assert 0 < used <= 250
    # Nothing left out for the budget would still have fitted: the budget is used, not wasted.
    over = [i for i, r in enumerate(sel.reasons) if r and r.startswith("over_budget")]
    assert over and all(tokens[i] > 250 - used for i in over)


@pytest.mark.parametrize("strategy", ALL)
def test_threshold_keeps_only_scores_above_tau(strategy):
    table, examples = make_pool()
    sel = select(table, SelectConfig(strategy=strategy, threshold=0.7, greedy={"tau_div": 0.99}), ctx=context(examples))
    scores = table["score"].to_numpy()
    assert (scores[sel.keep] >= 0.7).all()
    if strategy not in ("greedy", "coverage", "active"):  # these refuse some rows for their own reasons
        assert sel.keep.sum() == (scores >= 0.7).sum(), "no size: everything above τ"


def test_fraction_and_n_agree():
    table, examples = make_pool()
    n_cand = int(table["reason"].isna().sum())
    a = select(table, SelectConfig(strategy="top", fraction=0.2))
    b = select(table, SelectConfig(strategy="top", n=round(0.2 * n_cand)))
    assert np.array_equal(a.keep, b.keep)


def test_top_takes_the_best_scores():
    table, _ = make_pool()
    sel = select(table, SelectConfig(strategy="top", n=20))
    kept = table.loc[sel.keep, "score"]
    rest = table.loc[~sel.keep & table["reason"].isna(), "score"]
    assert kept.min() >= rest.max()


def test_random_depends_on_the_seed_and_only_on_it():
    table, examples = make_pool()
    a = select(table, SelectConfig(strategy="random", n=30), seed=1)
    b = select(table, SelectConfig(strategy="random", n=30), seed=2)
    c = select(table.iloc[::-1].reset_index(drop=True), SelectConfig(strategy="random", n=30), seed=1)
    assert not np.array_equal(a.keep, b.keep)
    assert set(table.loc[a.keep, "id"]) == set(table.iloc[::-1].reset_index(drop=True).loc[c.keep, "id"])


def test_no_size_is_a_config_error():
    table, _ = make_pool()
    with pytest.raises(ConfigError, match="give a size"):
        select(table, SelectConfig())


def test_embedding_strategies_need_examples():
    table, _ = make_pool()
    with pytest.raises(ConfigError, match="needs the examples"):
        select(table, SelectConfig(strategy="greedy", n=5))


def test_real_embedder_path():
    """The default Context embeds through sft_select.models.embed.embedders (hashing here: model-free)."""
    from sft_select.selection.base import Context

    table, examples = make_pool(n=60)
    sel = select(table, SelectConfig(strategy="facility", n=10), ctx=Context.of(examples, "hashing"))
    assert sel.keep.sum() == 10


@pytest.mark.parametrize("strategy", ALL)
def test_needs_embeddings_says_whether_the_strategy_reads_them(strategy):
    """A streaming run keeps the pool's embeddings only for the strategies that declare it; one that reads them
    without declaring it would fail only after the whole pass."""
    from sft_select.selection.strategies import needs_embeddings

    table, examples = make_pool()
    ctx, asked = context(examples), []
    real = ctx.embeddings
    ctx.embeddings = lambda ids, why: asked.append(why) or real(ids, why)
    select(table, SelectConfig(strategy=strategy, n=37, greedy={"tau_div": 0.5}), ctx=ctx)
    assert bool(asked) == needs_embeddings(strategy)


def test_the_config_accepts_every_registered_strategy_and_names_the_choices_for_others():
    """`select.strategy` is checked against the registry by Config (the schema leaf does not import it), so a
    registered strategy needs no second line in the config."""
    import pandas as pd

    from sft_select.config.schema import Config
    from sft_select.core.errors import ConfigError
    from sft_select.selection.strategies import REGISTRY, select

    for name in ["auto", *REGISTRY]:
        assert Config.model_validate({"select": {"strategy": name}}).select.strategy == name
    with pytest.raises(ValueError, match=r"select.strategy: unknown 'bogus'; choose from \['auto', 'active'"):
        Config.model_validate({"select": {"strategy": "bogus"}})
    with pytest.raises(ConfigError, match="select.strategy: unknown 'bogus'"):
        select(pd.DataFrame({"id": ["a"], "score": [1.0]}), SelectConfig(strategy="bogus", n=1))
