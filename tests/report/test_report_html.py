import html
import json
import re

import pytest

from sft_select.report import write_report
from sft_select.report.figures import build_figures, expand_points, hover_text
from sft_select.report.html import plotly_js, render_html, safe_json
from sft_select.report.rundata import open_run
from sft_select.report.summary import build_summary

from .conftest import XSS

SECTIONS = ("overview", "funnel", "scores", "views", "correlation", "map", "coverage", "tuning", "manifest")


def test_report_is_self_contained(demo_run):
    page = (demo_run / "report.html").read_text(encoding="utf-8")
    # nothing to fetch: no external script, stylesheet, image or font, and a CSP that forbids the network
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", page, re.I)
    assert "default-src 'none'" in page
    assert page.count(plotly_js()) == 1 and page.count("Plotly=") == 1  # one copy of plotly.js, not per figure
    for section in SECTIONS:
        assert f'id="{section}"' in page
    assert len(page) < 3_000_000  # plotly's basic bundle (1.2 MB) and the data: 5-8 MB with the full bundle


def test_every_figure_is_valid_plotly(demo_run):
    import plotly.graph_objects as go

    data = open_run(demo_run)
    summary = build_summary(data)
    figures = build_figures(summary, data.text)
    assert {"funnel", "drops", "score", "map", "length", "timings", "view-0", "view-1",
            "cov-clusters"} <= set(figures)
    for fig in figures.values():
        fig = expand_points(fig)  # as report.js hands it to plotly
        go.Figure(fig)  # raises on a property plotly does not know, which plotly.js would silently ignore
        # the page carries plotly.js's basic bundle, which draws these trace types and no others
        assert {t["type"] for t in fig["data"]} <= {"bar", "scatter", "pie"}


def test_safe_json_cannot_close_a_script_block():
    text = safe_json({"t": "</script><script>alert(1)</script> & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text)["t"].startswith("</script>")


def test_hover_text_escapes_user_text():
    h = hover_text("<b>id</b>", "<img src=x onerror=alert(1)>")
    assert "<img" not in h and "&lt;img" in h and h.startswith("<b>&lt;b&gt;")


def test_hostile_example_texts_are_escaped_everywhere(xss_run):
    page = (xss_run / "report.html").read_text(encoding="utf-8")
    for payload in ("<script>window.__xss", "<img src=x onerror", "</script><script>window.__xss = 3"):
        assert payload not in page
    # the texts are there, escaped: in the tables (HTML entities) and in the figure data (\u escapes)
    assert html.escape("<script>window.__xss = 1</script>", quote=False) in page
    figures = json.loads(re.search(r'id="report-figures">(.*?)</script>', page, re.S).group(1))
    hovers = " ".join(figures["map"]["points"]["hovertext"])
    assert "&lt;script&gt;window.__xss = 1" in hovers


def test_scored_run_without_selection_renders(tmp_path):
    from sft_select.config.schema import build_config
    from sft_select.pipelines.in_memory import run

    from .conftest import make_pool, write_jsonl

    pool, _ = make_pool(60, seed=5)
    out = tmp_path / "run"
    run([write_jsonl(pool, tmp_path / "pool.jsonl")], out, build_config({"embedding": {"model": "hashing"}}),
        stop_after="score")
    s = json.loads((out / "summary.json").read_text())
    assert s["funnel"]["selected"] == 0 and s["funnel"]["consistent"]
    assert "stopped after scoring" in (out / "report.html").read_text(encoding="utf-8")


def test_tuned_run_draws_the_tau_curve_and_trace(demo_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    tune = {"metric": "accuracy",
            "sweep": [{"tau": t / 10, "size": 100 - 10 * t, "f": 0.6 + 0.02 * t} for t in range(8)],
            "trace": [{"trial": i, "weights": {"quality_heuristic": i / 10}, "f": 0.6 + 0.01 * (i % 4)}
                      for i in range(10)],
            "baselines": {"random": [{"size": s, "f": [0.55, 0.6]} for s in (30, 60, 100)], "whole_pool": 0.66}}
    (run / "tune.json").write_text(json.dumps(tune))
    write_report(run, with_map=False)
    page = (run / "report.html").read_text(encoding="utf-8")
    figures = json.loads(re.search(r'id="report-figures">(.*?)</script>', page, re.S).group(1))
    names = [t.get("name") for t in figures["tau"]["data"]]
    assert "whole pool" in names and "random subset (mean, min–max)" in names
    assert any(t.get("name") == "best so far" for t in figures["trace"]["data"])
    assert "not tuned" not in page


def test_unreadable_tune_json_costs_only_its_section(demo_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    (run / "tune.json").write_text("{not json")
    write_report(run, with_map=False)
    s = json.loads((run / "summary.json").read_text())
    assert s["tune"] is None and any("tune.json" in n for n in s["notes"])


@pytest.mark.parametrize("text", XSS)
def test_render_escapes_titles_and_notes(demo_run, text):
    data = open_run(demo_run, load_inputs=False)
    data.notes.append(text)
    page = render_html(build_summary(data, with_map=False), data.text)
    from markupsafe import escape

    assert str(escape(text)) in page
    if "<" in text:
        assert text not in page


def test_the_same_run_renders_the_same_bytes(demo_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    write_report(run)
    first = {name: (run / name).read_bytes() for name in ("report.html", "summary.json")}
    write_report(run)
    assert {name: (run / name).read_bytes() for name in ("report.html", "summary.json")} == first
    assert b"Generated" not in first["report.html"]  # no clock time in the page
