import json

import numpy as np
import pandas as pd

from sft_select.report.funnel import funnel, reason_category, reason_examples, statuses


def _table() -> pd.DataFrame:
    """Ten rows covering every way out: filter, decontamination, duplicate, floor, rank, selected."""
    return pd.DataFrame({
        "id": [f"e{i}" for i in range(10)],
        "filter_reason": [None, "too_short: 2 words", "too_short: 1 word", "decontaminated: 13-gram overlap",
                          None, None, None, None, None, None],
        "reason": [None, "too_short: 2 words", "too_short: 1 word", "decontaminated: 13-gram overlap",
                   "duplicate_near", "floor: quality_heuristic below 0.2", "not_selected: rank 4 > N=3",
                   None, None, "below_threshold: score 0.1 < τ=0.2"],
        "kept_id": [None, None, None, None, "e0", None, None, None, None, None],
        "score": [0.9, np.nan, np.nan, np.nan, 0.5, 0.4, 0.3, 0.8, 0.7, 0.1],
        "selected": [True, False, False, False, False, False, False, True, True, False],
    })


def test_reason_category_groups_by_prefix_and_keeps_floor_view():
    assert reason_category("not_selected: rank 61 > N=60") == "not_selected"
    assert reason_category("duplicate_exact") == "duplicate_exact"
    assert reason_category("floor: quality_heuristic below 0.2") == "floor: quality_heuristic"
    assert reason_category(None) is None and reason_category(float("nan")) is None


def test_statuses_name_each_way_out():
    got = list(statuses(_table()))
    assert got == ["selected", "filtered", "filtered", "decontaminated", "duplicate", "vetoed (floor)",
                   "not selected", "selected", "selected", "not selected"]


def test_funnel_stages_subtract_to_the_selection():
    manifest = {"counts": {"rows_read": 12, "unreadable": 2},
                "config": {"preprocess": {"decontaminate": True},
                           "views": {"settings": {"quality_heuristic": {"floor": 0.2}}}}}
    f = funnel(_table(), manifest)
    names = [s["stage"] for s in f["stages"]]
    assert names == ["rows read", "readable", "passed filters", "passed decontamination", "unique after dedup",
                     "passed floors", "selected"]
    counts = [s["count"] for s in f["stages"]]
    assert counts == [12, 10, 8, 7, 6, 5, 3]
    assert f["consistent"] and f["selected"] == 3
    assert f["stages"][2]["dropped"] == {"too_short": 2}
    assert f["stages"][-1]["dropped"] == {"below_threshold": 1, "not_selected": 1}
    assert f["by_reason"]["unreadable"] == 2
    json.dumps(f)  # plain JSON types only


def test_optional_stages_are_left_out_when_not_configured_and_empty():
    t = _table()
    t.loc[3, ["filter_reason", "reason"]] = None
    t.loc[5, "reason"] = None
    f = funnel(t, {"counts": {"rows_read": 10}})
    assert "passed decontamination" not in [s["stage"] for s in f["stages"]]
    assert "passed floors" not in [s["stage"] for s in f["stages"]]


def test_reason_examples_show_kept_duplicate():
    ex = reason_examples(_table())
    assert ex["duplicate_near"] == [{"id": "e4", "reason": "duplicate_near", "kept_id": "e0"}]
    assert [r["id"] for r in ex["too_short"]] == ["e1", "e2"]


def test_vectorized_categories_match_the_scalar_rule():
    from sft_select.report.funnel import categories

    reasons = pd.Series([None, "not_selected: rank 4 > N=3", "floor: quality_heuristic below 0.2",
                         "duplicate_exact", " spaced : reason ", np.nan, "no colon at all"])
    assert list(categories(reasons)) == [reason_category(r) for r in reasons]


def test_hover_wrap_keeps_every_character_and_the_width():
    from sft_select.report.figures import wrap

    text = "word " * 30 + "x" * 150 + " tail"
    lines = wrap(text.strip(), 40)
    assert all(len(line) <= 40 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
