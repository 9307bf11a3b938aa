"""diversity: examples from a tiny cluster outscore examples from a huge one; cluster ids are exposed."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sft_select.views.diversity import cluster_assignments
from sft_select.views.registry import build
from views.viewdata import make_pool, topic_of


def test_tiny_cluster_scores_higher_than_huge_cluster():
    pool = make_pool({"cooking": 120, "python": 30, "astronomy": 4}, kind="chat", seed=20)
    view = build("diversity", {"model": "hashing"}).fit(pool)  # default k: 9 clusters for 154 examples
    res = view.score_batch(pool)
    topics = np.array([topic_of(ex) for ex in pool])
    cluster = res.extra["cluster"]
    # The four astronomy examples form a cluster of their own; cooking fills several big ones.
    tiny = set(cluster[topics == "astronomy"].tolist())
    assert len(tiny) == 1 and not tiny & set(cluster[topics != "astronomy"].tolist())
    assert view.sizes_[cluster[topics == "cooking"]].min() > 4
    assert res.raw[topics == "astronomy"].min() > res.raw[topics == "cooking"].max()
    assert "cluster" in res.reasons[0] and f"of {view.k_}" in res.reasons[0]


def test_distance_weight_zero_scores_clusters_only():
    pool = make_pool({"cooking": 40, "python": 10}, kind="chat", seed=21)
    res = build("diversity", {"model": "hashing", "k": 2, "distance_weight": 0.0}).fit(pool).score_batch(pool)
    for c in np.unique(res.extra["cluster"]):
        assert np.ptp(res.raw[res.extra["cluster"] == c]) == 0.0


def test_default_k_and_tiny_pools():
    pool = make_pool({"cooking": 40, "python": 10}, kind="chat", seed=22)
    assert build("diversity", {"model": "hashing"}).fit(pool).k_ == 5  # round(sqrt(50 / 2))
    one = build("diversity", {"model": "hashing", "k": 10}).fit(pool[:1])
    assert one.k_ == 1 and np.isfinite(one.score_batch(pool[:1]).raw).all()


def test_cluster_assignments_from_examples_and_from_a_table():
    pool = make_pool({"cooking": 30, "python": 30}, kind="chat", seed=23)
    from_examples = cluster_assignments(pool, k=2, model="hashing")
    view = build("diversity", {"model": "hashing", "k": 2}).fit(pool)
    assert from_examples.tolist() == view.score_batch(pool).extra["cluster"].tolist()
    table = pd.DataFrame({"id": [ex.id for ex in pool],
                          "diversity_cluster": pd.array(from_examples.tolist()[:-1] + [None], dtype="Int64")})
    got = cluster_assignments(table)
    assert got.tolist() == from_examples.tolist()[:-1] + [-1]


def test_fit_assignments_reused_for_the_pool_equal_fresh_ones(monkeypatch):
    """Scoring the fitted pool reads the fit's assignments (by id); a pickled copy, which has none,
    and a batch with an example outside the pool compute them and get the same numbers. The fit's
    assignment over worker processes equals the serial one."""
    import pickle

    from sft_select.executors import pool as parallel

    pool = make_pool({"cooking": 60, "python": 25, "astronomy": 5}, kind="chat", seed=24)
    view = build("diversity", {"model": "hashing"}).fit(pool)
    memo = view.score_batch(pool)
    fresh = pickle.loads(pickle.dumps(view))
    assert not hasattr(fresh, "_assigned")
    again = fresh.score_batch(pool)
    assert np.array_equal(memo.raw, again.raw) and memo.reasons == again.reasons
    assert np.array_equal(memo.extra["distance"], again.extra["distance"])
    outsider = make_pool({"python": 1}, kind="chat", seed=99)
    mixed = view.score_batch(pool[:3] + outsider)
    assert np.array_equal(mixed.raw[:3], memo.raw[:3])
    with parallel.workers(2, min_items=10):
        monkeypatch.setattr("sft_select.views.diversity.BLOCK", 16)
        split = build("diversity", {"model": "hashing"}).fit(pool)
    assert np.array_equal(split.score_batch(pool).raw, memo.raw)
