"""The page's six defects of #25, each checked in the HTML: the map's legend counts, class tick labels,
the hash column, duplicate ids, the token estimate and the page's weight (the browser half is in
test_report_browser.py)."""
from __future__ import annotations

import html
import json
import re

import pytest

from sft_select.report import write_report
from sft_select.report.coverage import TOKEN_METHOD
from sft_select.report.figures import expand_points, map_figure, share_figure
from sft_select.report.html import plotly_js
from sft_select.report.ids import id_labels

from .conftest import LONG_LABELS


def _figures(page: str) -> dict:
    return json.loads(re.search(r'id="report-figures">(.*?)</script>', page, re.S).group(1))


@pytest.fixture(scope="module")
def sampled_run(demo_run, tmp_path_factory):
    """The demo run with a map of 100 of its 400 rows."""
    import shutil

    run = tmp_path_factory.mktemp("sampled") / "run"
    shutil.copytree(demo_run, run)
    write_report(run, max_points=100)
    return run


# 1. Legend counts say they count the map's sample

def test_sampled_map_legend_counts_the_points_shown_out_of_the_run(sampled_run):
    page = (sampled_run / "report.html").read_text(encoding="utf-8")
    s = json.loads((sampled_run / "summary.json").read_text())
    m = s["map"]
    assert m["n_points"] == 100 and m["n_total"] == 400
    assert m["status_totals"] == s["status_counts"]
    shown = m["points"]["status"]
    names = [t["name"] for t in _figures(page)["map"]["data"] if t.get("visible", True) and "rows" in t]
    for status, total in m["status_totals"].items():
        if status in shown:
            assert f"{status} ({shown.count(status):,} shown of {total:,})" in names, names
    cluster_names = [t["name"] for t in _figures(page)["map"]["data"] if t.get("visible") is False]
    assert cluster_names and all(n.endswith(" shown)") for n in cluster_names), cluster_names
    note = re.search(r'id="map-sample">(.*?)</p>', page, re.S).group(1)
    assert f"100 of 400 points shown; {shown.count('selected')} of them selected" in note, note


def test_unsampled_map_legend_counts_are_plain(demo_run):
    page = (demo_run / "report.html").read_text(encoding="utf-8")
    names = [t["name"] for t in _figures(page)["map"]["data"] if "rows" in t]
    assert names and not any("shown" in n for n in names)
    assert re.search(r'id="map-sample">All 400 points shown; \d+ of them selected', page)


def test_map_figure_never_presents_sample_counts_as_totals():
    m = {"n_points": 4, "n_total": 1000, "status_totals": {"selected": 100, "not selected": 900},
         "points": {"id": ["a", "b", "c", "d"], "x": [0, 1, 2, 3], "y": [0, 1, 0, 1], "cluster": [None] * 4,
                    "status": ["selected", "selected", "not selected", "not selected"]}}
    fig = map_figure(m, lambda i: None)
    assert [t["name"] for t in fig["data"] if "rows" in t][:2] == ["not selected (2 shown of 900)",
                                                                 "selected (2 shown of 100)"]


# 2. Class tick labels are never clipped

def test_long_class_labels_are_cut_on_the_axis_and_whole_in_the_hover():
    dist = {"categories": LONG_LABELS + ["b"], "pool": [3.0, 2.0, 1.0, 1.0], "selected": [1.0, 1.0, 0.0, 1.0]}
    fig = share_figure(dist, "label")
    x = fig["layout"]["xaxis"]
    assert x["automargin"] is True and x["tickvals"] == LONG_LABELS + ["b"]
    lines = [t.split("<br>") for t in x["ticktext"]]
    assert all(len(ls) <= 3 and max(map(len, ls)) <= 18 for ls in lines) and x["ticktext"][-1] == "b"
    assert len(set(x["ticktext"])) == 4  # the cut names still tell the classes apart
    assert fig["data"][0]["x"] == LONG_LABELS + ["b"]  # %{x} in the hover is the whole name
    many = share_figure({"categories": [f"{c} {i}" for i, c in enumerate(LONG_LABELS * 3)], "pool": [1.0] * 9,
                         "selected": [1.0] * 9}, "label")["layout"]["xaxis"]
    assert all(len(t) <= 22 and "<br>" not in t for t in many["ticktext"]) and len(set(many["ticktext"])) == 9


def test_tick_labels_escape_after_cutting():
    from sft_select.report.figures import tick_labels

    ticks = tick_labels(["a <b> & c " * 5], 12, 1)
    assert ticks["tickvals"] == [html.escape("a <b> & c " * 5, quote=False)]
    assert "<b>" not in ticks["ticktext"][0] and "&lt;" in ticks["ticktext"][0]


def test_the_big_page_cuts_its_long_labels(big_page):
    x = _figures(big_page.read_text(encoding="utf-8"))["cov-labels"]["layout"]["xaxis"]
    assert x["automargin"] and max(len(line) for t in x["ticktext"] for line in t.split("<br>")) <= 18


# 3. The hash column fits its card

def test_input_fingerprints_are_cut_with_the_whole_hash_as_title(big_page):
    page = big_page.read_text(encoding="utf-8")
    cell = re.search(r'<td class="hash"><code title="([0-9a-f]+)">([^<]+)</code></td>', page)
    assert cell and len(cell.group(1)) == 32 and cell.group(2) == cell.group(1)[:10] + "…"
    assert '<td class="path"><code>/data/an_input_folder' in page
    assert re.search(r"table\.inputs td\.path code \{[^}]*overflow-wrap: anywhere", page)


# 4. A dropped duplicate and the example kept in its place never look the same

def test_id_labels_keep_the_repeat_suffix():
    h = "d8405d3feed50ea0d8a345f0"
    labels = id_labels([h, f"{h}~1", f"{h}~12", "short"])
    assert labels[h] == "d8405d3f…45f0" and labels[f"{h}~1"] == "d8405d3f…45f0~1"
    assert labels[f"{h}~12"] == "d8405d3f…45f0~12" and labels["short"] == "short"


def test_id_labels_widen_until_distinct():
    a, b = "01234567" + "0" * 12 + "1111", "01234567" + "9" * 12 + "1111"  # same head and tail
    labels = id_labels([a, b, None, "01234567" + "5" * 12 + "2222"])
    assert (labels[a], labels[b]) == ("012345670000…1111", "012345679999…1111")  # widened by 4
    assert labels["01234567" + "5" * 12 + "2222"] == "01234567…2222"  # the others keep the short form
    c, d = "0123456789abcdef00001111", "0123456789abcdef99991111"  # alike but for the middle: shown whole
    assert id_labels([c, d]) == {c: c, d: d}
    ids = [f"{'0' * 12}{i:08x}beef" for i in range(300)] + [f"{'0' * 12}{i:08x}beef~1" for i in range(300)]
    labels = id_labels(ids)
    assert len(set(labels.values())) == len(ids)


def test_duplicate_rows_show_distinct_ids(demo_run):
    page = (demo_run / "report.html").read_text(encoding="utf-8")
    s = json.loads((demo_run / "summary.json").read_text())
    repeats = [r for r in s["reason_examples"]["duplicate_exact"] if r["id"].startswith(r["kept_id"] or "-")]
    assert repeats, "the demo pool has exact repeats"
    for r in repeats:
        shown = {i: re.search(rf'<code class="id" title="{re.escape(i)}">([^<]+)</code>', page).group(1)
                 for i in (r["id"], r["kept_id"])}
        assert shown[r["id"]] != shown[r["kept_id"]] and shown[r["id"]].endswith("~1"), shown
    hovers = _figures(page)["map"]["points"]["hovertext"]  # the map's hover titles use the same labels
    titles = {h.split(" · ")[0].removeprefix("<b>") for h in hovers}
    assert all(len(t) <= 16 for t in titles) and any(t.endswith("~1") for t in titles)


# 5. The token figure says it is an estimate, and how it was counted

def test_token_figures_say_they_are_estimates(demo_run):
    page = (demo_run / "report.html").read_text(encoding="utf-8")
    card = re.search(r'id="tokens-card">(.*?)</div></div>', page, re.S).group(1)
    assert "tokens selected (estimate)" in card and "≈" in card and html.escape(TOKEN_METHOD) in card
    assert "<th class=\"num\">tokens (est.)</th>" in page and "<th class=\"num\">tokens</th>" not in page
    note = re.search(r'id="token-method">(.*?)</p>', page, re.S).group(1)
    assert "estimate" in note and html.escape(TOKEN_METHOD) in note


def test_inspect_says_tokens_are_estimates(demo_run):
    from rich.console import Console

    from sft_select.report.terminal import print_inspect

    console = Console(record=True, width=200)
    print_inspect(json.loads((demo_run / "summary.json").read_text()), console)
    out = console.export_text()
    assert "tokens (est.)" in out and "estimate" in out and TOKEN_METHOD in out


def test_inspect_fits_80_columns_without_cutting_a_number(demo_run):
    """In an 80-column terminal the last column of the views table was cut ("1.691" shown as "1"): names
    fold onto a second line instead, numbers keep every digit, and counts print as whole numbers."""
    from rich.console import Console

    from sft_select.report.terminal import print_inspect

    summary = json.loads((demo_run / "summary.json").read_text())
    for view in summary["views"]:
        view["name"] = view["name"] + "_with_a_long_suffix"
        view["seconds"] = 1234.5678
    console = Console(record=True, width=80)
    print_inspect(summary, console)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80
    views = out[out.index("Views (raw values"):out.index("combined score")]
    assert views.count("1,234.568") == len(summary["views"]), views
    assert not re.search(r"\b\d+\.000\b", out[out.index("Clusters"):]) if "Clusters" in out else True


# 6. Page weight: one small plotly bundle, the map's texts once

def test_the_page_carries_plotly_once_and_each_hover_once(big_page):
    page = big_page.read_text(encoding="utf-8")
    assert page.count(plotly_js()) == 1 and page.count("plotly.js (basic - minified)") == 1
    assert page.count("<script") == 3  # the figures' JSON, plotly.js, the page's script
    fig = _figures(page)["map"]
    assert len(fig["points"]["hovertext"]) == 5000
    assert not any("hovertext" in t for t in fig["data"] if "rows" in t)  # status and cluster traces index them
    drawn = expand_points(fig)["data"]
    assert sum(len(t["x"]) for t in drawn if t.get("visible", True) and t["name"] != "target examples") == 5000
    assert len(page) < 3_600_000  # 1.2 MB of plotly.js, 5,000 hover texts of ~400 characters


def test_explain_never_says_a_score_is_below_a_cut_it_is_above():
    """Coverage, quota and stratified pick within groups: a dropped row can score above the lowest selected
    score. The verdict said '(score 0.198 < cut 0.045)'; it says what holds."""
    import pandas as pd

    from sft_select.report.explain import _verdict

    row = pd.Series({"score": 0.198, "reason": "not_selected: cluster '33' has its 26 of N=583"})
    above = _verdict(row, "not selected", 2623, 2916, 0.045, "best")
    assert "<" not in above and "above the lowest selected score 0.045" in above and "one cut" in above
    below = _verdict(pd.Series({"score": 0.01, "reason": "not_selected: rank 9 > N=8"}), "not selected", 9, 20,
                     0.045, "best")
    assert "(score 0.010 < the lowest selected score 0.045)" in below
    kept = _verdict(pd.Series({"score": 0.5, "reason": None}), "selected", 1, 20, 0.045, "best")
    assert "the lowest selected score is 0.045" in kept
