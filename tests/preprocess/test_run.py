"""The preprocessing steps in order: drops with reasons, links into clusters, counts per step."""
from __future__ import annotations

import json

import pandas as pd

from sft_select.preprocess.clusters import DuplicateClusters, resolve
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.run import run_preprocess

from .helpers import pool

ANSWER = ("Use slicing: items[::-1] returns a reversed copy of the list, while items.reverse() reverses it in "
          "place and returns None, which is handy when memory matters more than keeping the original list.")


def test_steps_drop_link_and_report():
    exs = pool([
        ("How do I reverse a list in Python?", ANSWER),
        ("How do I reverse a list in Python?", ANSWER),  # exact
        ("HOW DO I  REVERSE A LIST IN PYTHON?", ANSWER.upper()),  # exact after normalization
        ("How do I reverse a list in Python?", ANSWER.replace("handy", "useful")),  # near
        ("How do I reverse a list in Python?", ""),  # filtered
        ("What is the capital of France?", "Paris."),
    ])
    res = run_preprocess(exs, PreprocessConfig())
    assert res.drops == {4: "filter_empty_response"}
    steps = {s.step: s for s in res.steps}
    assert (steps["filters"].count_in, steps["filters"].count_out) == (6, 5)
    assert (steps["exact_dedup"].count_in, steps["exact_dedup"].count_out) == (5, 3)
    assert (steps["near_dedup"].count_in, steps["near_dedup"].count_out) == (5, 2)
    assert json.dumps([s.as_dict() for s in res.steps])  # manifest-ready
    cluster, kind = res.clusters.columns([e.id for e in exs])
    assert cluster[0] == cluster[1] == cluster[2] == cluster[3] == exs[0].id
    assert kind[:4] == ["exact", "exact", "exact", "near"]
    assert cluster[4] is None and cluster[5] is None


def test_exact_keys_computed_while_reading_give_the_same_clusters():
    from sft_select.preprocess.exact import key_job

    exs = pool([("How do I reverse a list in Python?", ANSWER), ("How do I reverse a list in Python?", ""),
                ("HOW DO I  REVERSE A LIST IN PYTHON?", ANSWER.upper()), ("What is the capital of France?", "Paris."),
                ("how do i reverse a list in python?", ANSWER.lower())])
    cfg = PreprocessConfig.model_validate({"near": {"enabled": False}})
    plain = run_preprocess(exs, cfg)
    keys = key_job(exs)
    known = run_preprocess(exs, cfg, known_keys=keys)
    assert known.drops == plain.drops == {1: "filter_empty_response"}
    ids = [e.id for e in exs]
    assert known.clusters.columns(ids) == plain.clusters.columns(ids)
    assert plain.clusters.columns(ids)[1] == ["exact", None, "exact", None, "exact"]
    # the keys are read by pool position: a key that differs changes what is linked
    keys[4] = keys[3]
    cluster, kind = run_preprocess(exs, cfg, known_keys=keys).clusters.columns(ids)
    assert (cluster[4], kind[4], kind[0]) == (ids[3], "exact", "exact")


def test_filtered_examples_are_not_deduplicated():
    exs = pool([("q one two three?", ""), ("q one two three?", "")])
    res = run_preprocess(exs, PreprocessConfig())
    assert set(res.drops) == {0, 1}
    assert res.clusters.columns([e.id for e in exs])[0] == [None, None]


def test_every_step_can_be_switched_off():
    exs = pool([("Same question here?", ANSWER)] * 3 + [("q?", "")])
    cfg = PreprocessConfig.model_validate({"filters": {"enabled": False}, "exact_dedup": False,
                                           "near": {"enabled": False}})
    res = run_preprocess(exs, cfg)
    assert res.drops == {} and res.steps == []
    assert res.clusters.columns([e.id for e in exs])[0] == [None] * 4


def test_resolve_keeps_best_or_first_and_names_the_kind_to_the_winner():
    uf = DuplicateClusters(4)
    uf.link([(0, 1)], "exact")
    uf.link([(0, 2)], "near")
    cluster, kind = uf.columns(["a", "a~1", "b", "c"])
    table = pd.DataFrame({"id": ["a", "a~1", "b", "c"], "dup_cluster": cluster, "dup_kind": kind,
                          "reason": [None] * 4, "score": [0.1, 0.1, 0.9, 0.5]})
    best = resolve(table, "best")
    assert best["reason"].tolist() == ["duplicate_near", "duplicate_near", None, None]
    assert best["kept_id"].tolist()[:2] == ["b", "b"]
    first = resolve(table, "first")
    assert first["reason"].tolist() == [None, "duplicate_exact", "duplicate_near", None]
    assert first["kept_id"].tolist()[1:3] == ["a", "a"]


def test_semantic_step_links_paraphrases_with_the_hashing_embedder():
    exs = pool([("How can I reverse a Python list?", ANSWER), ("Reverse a list in Python: how?", ANSWER),
                ("Best pancake recipe?", "Mix flour, eggs and milk, then fry ladles of batter in butter.")])
    cfg = PreprocessConfig.model_validate({"near": {"enabled": False}, "semantic": {"enabled": True, "threshold": 0.8}})
    res = run_preprocess(exs, cfg, embedder="hashing")
    cluster, kind = res.clusters.columns([e.id for e in exs])
    assert cluster[0] == cluster[1] and kind[1] == "semantic" and cluster[2] is None
    assert res.steps[-1].step == "semantic_dedup"
