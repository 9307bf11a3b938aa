"""Open the report in headless Chromium: no console errors, every section drawn, hover works, no XSS.

Needs the Debian packages `chromium` and `chromium-driver` and the Python package selenium (dev extra);
skipped with a message saying so where they are missing. Set SFT_SELECT_SCREENSHOT_DIR to keep the
screenshots.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .browser import browser, chromium, console_errors, full_screenshot, open_report
from .test_report_html import SECTIONS

pytestmark = pytest.mark.skipif(
    chromium() is None,
    reason="headless Chromium unavailable: install the Debian packages chromium and chromium-driver "
           "(apt-get install -y chromium chromium-driver) and `pip install selenium`")


@pytest.fixture(scope="module")
def drv():
    """One browser for the module: starting Chromium costs seconds on a shared 2-core machine."""
    with browser() as d:
        yield d


def _keep(path: Path) -> None:
    target = os.environ.get("SFT_SELECT_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_demo_report_renders_without_errors(drv, demo_run, tmp_path):
    drv.get_log("browser")  # drop what an earlier page logged
    assert open_report(drv, demo_run / "report.html") == "1"
    assert console_errors(drv) == []
    for section in SECTIONS:
        h = drv.execute_script(f"var e = document.getElementById('{section}'); "
                               "return e ? e.getBoundingClientRect().height : -1")
        assert h > 60, f"section {section} is missing or empty"
    plots = drv.execute_script(
        "return Array.from(document.querySelectorAll('.plot')).map(function (p) {"
        " return [p.dataset.fig, p.dataset.rendered || '', p.querySelectorAll('svg.main-svg').length,"
        " p.getBoundingClientRect().width]; })")
    assert len(plots) >= 10
    for fig, rendered, svgs, width in plots:
        assert rendered == "1" and svgs > 0 and width > 200, fig
    shot = tmp_path / "report-demo.png"
    full_screenshot(drv, shot)
    assert shot.stat().st_size > 50_000
    _keep(shot)


def test_map_hover_shows_the_example_text(drv, demo_run):
    from selenium.webdriver.common.action_chains import ActionChains

    open_report(drv, demo_run / "report.html")
    drv.execute_script("document.getElementById('fig-map').scrollIntoView()")
    point = drv.execute_script(
        "return document.querySelector('#fig-map .scatterlayer .trace .points path')")
    ActionChains(drv).move_to_element(point).perform()
    label = drv.execute_script("var h = document.querySelector('#fig-map .hoverlayer');"
                               "return h ? h.textContent : ''")
    # "id label · status · cluster", then the example's first characters (the nearest point wins the hover)
    assert re.match(r"[0-9a-f]{8}…[0-9a-f]{4}(~\d+)? · (not selected|duplicate|selected) · cluster [^ ]+?\S",
                    label), label
    assert len(label) > 50, label


def test_cluster_button_recolours_the_map(drv, demo_run):
    open_report(drv, demo_run / "report.html")
    before = drv.execute_script("return document.querySelectorAll('#fig-map .legendtext').length")
    drv.execute_script("""
        var b = Array.from(document.querySelectorAll('#fig-map .updatemenu-button'))
                     .find(function (x) { return x.textContent.indexOf('cluster') >= 0; });
        b.dispatchEvent(new MouseEvent('click', {bubbles: true}));""")
    names = drv.execute_script("return Array.from(document.querySelectorAll('#fig-map .legendtext'))"
                               ".map(function (t) { return t.textContent; })")
    assert any(n.startswith("cluster") for n in names), names
    assert console_errors(drv) == [] and before > 0


def test_hostile_texts_show_as_text_and_never_run(drv, xss_run, tmp_path):
    drv.get_log("browser")
    assert open_report(drv, xss_run / "report.html") == "1"
    assert drv.execute_script("return typeof window.__xss") == "undefined"
    body = drv.execute_script("return document.body.innerText")
    assert "<script>window.__xss = 1</script>" in body
    assert '<img src=x onerror="window.__xss = 2">' in body
    assert drv.execute_script("return document.querySelectorAll('main img').length") == 0
    errors = console_errors(drv)
    assert errors == [], errors
    shot = tmp_path / "report-xss.png"
    full_screenshot(drv, shot)
    _keep(shot)


def test_a_100k_style_page_draws_with_one_plotly_and_no_errors(drv, big_page):
    """5,000 map points out of 100,000, long class labels, a long input path and repeated ids."""
    drv.get_log("browser")
    assert open_report(drv, big_page) == "1"
    assert console_errors(drv) == []
    copies = drv.execute_script("return Array.from(document.scripts).filter(function (s) {"
                                " return s.text.indexOf('plotly.js (basic - minified)') >= 0; }).length")
    assert copies == 1 and drv.execute_script("return typeof Plotly.newPlot") == "function"
    plots = drv.execute_script("return Array.from(document.querySelectorAll('.plot'))"
                               ".map(function (p) { return [p.dataset.fig, p.dataset.rendered || '']; })")
    assert all(rendered == "1" for _, rendered in plots), plots
    points = drv.execute_script("return document.querySelectorAll('#fig-map .scatterlayer .trace .points path')"
                                ".length")
    assert points >= 5000
    legend = drv.execute_script("return Array.from(document.querySelectorAll('#fig-map .legendtext'))"
                                ".map(function (t) { return t.textContent; })")
    assert any(re.fullmatch(r"selected \([\d,]+ shown of 10,000\)", n) for n in legend), legend
    # the class names' ticks lie inside their figure (not cut off at its bottom or sides)
    outside = drv.execute_script("""
        var fig = document.querySelector('#fig-cov-labels svg.main-svg').getBoundingClientRect();
        return Array.from(document.querySelectorAll('#fig-cov-labels .xtick text')).filter(function (t) {
          var r = t.getBoundingClientRect();
          return r.bottom > fig.bottom + 0.5 || r.left < fig.left - 0.5 || r.right > fig.right + 0.5;
        }).map(function (t) { return t.textContent; });""")
    assert outside == []
    # the inputs' table, hash column included, stays inside its card
    over = drv.execute_script("""
        var card = document.getElementById('manifest').getBoundingClientRect();
        var hash = document.querySelector('table.inputs td.hash').getBoundingClientRect();
        var col = document.querySelector('table.inputs').parentElement.parentElement.getBoundingClientRect();
        return [hash.right - card.right, hash.right - col.right];""")
    assert over[0] <= 0 and over[1] <= 0.5, over
    # and nothing else sticks out of its card (wide tables scroll inside their .table-wrap instead)
    sticking_out = drv.execute_script("""
        var out = [];
        document.querySelectorAll('.report-section').forEach(function (s) {
          var card = s.getBoundingClientRect();
          s.querySelectorAll('*').forEach(function (e) {
            var wrap = e.closest('.table-wrap');
            if ((wrap && wrap !== e) || e.closest('svg')) return;
            var r = e.getBoundingClientRect();
            if (r.width && r.right > card.right + 1) out.push(s.id + ' ' + e.textContent.slice(0, 40));
          });
        });
        return out;""")
    assert sticking_out == [], sticking_out[:5]
