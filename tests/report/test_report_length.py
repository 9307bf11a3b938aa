"""Each view's (and the combined score's) Spearman ρ with length: summary.json, the page, the terminal."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sft_select.report.lengthbias import MAX_ROWS, TRACKS_LENGTH, length_correlation, length_warning, spearman


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chars = rng.integers(20, 4000, n)
    noise = rng.random(n)
    return pd.DataFrame({
        "id": [f"e{i}" for i in range(n)], "chars": chars,
        "longer_raw": chars.astype(float), "longer": chars / chars.max(),
        "random_raw": noise, "random": noise,
        "score": 0.5 * chars / chars.max() + 0.5 * noise,
    })


def test_a_score_equal_to_length_gets_rho_one_and_the_flag():
    lc = length_correlation(_table())
    assert lc["views"]["longer"]["rho"] == pytest.approx(1.0)
    assert lc["views"]["longer"]["tracks_length"]
    assert "longer" in lc["flagged"]
    assert lc["threshold"] == TRACKS_LENGTH and lc["method"] == "spearman"


def test_a_random_score_is_not_flagged():
    lc = length_correlation(_table())
    assert abs(lc["views"]["random"]["rho"]) < 0.1
    assert not lc["views"]["random"]["tracks_length"] and "random" not in lc["flagged"]
    assert lc["score"]["rho"] > TRACKS_LENGTH and lc["flagged"] == ["longer", "score"]


def test_the_sign_is_best_is_high_even_where_lower_raw_is_better():
    """A run stopped after scoring has only raw columns: a lower-is-better view that prefers long
    examples has raw values falling with length, and still reads ρ > 0."""
    from sft_select.views.registry import registered

    lower = next(name for name, cls in registered().items() if not cls.higher_is_better)
    t = _table()
    t = pd.DataFrame({"id": t["id"], "chars": t["chars"], f"{lower}_raw": -t["chars"].astype(float)})
    assert length_correlation(t)["views"][lower]["rho"] == pytest.approx(1.0)


def test_nan_rows_are_left_out_and_an_all_nan_column_has_no_rho():
    t = _table()
    t.loc[::3, ["longer", "longer_raw"]] = np.nan
    t["empty_raw"] = np.nan
    t["empty"] = np.nan
    t["flat_raw"] = 1.0
    t["flat"] = 0.5
    t.loc[5, "chars"] = np.nan  # a length that is missing too
    lc = length_correlation(t)
    longer = lc["views"]["longer"]
    assert longer["rho"] == pytest.approx(1.0) and longer["n"] == longer["n_scored"] == 2000 - 1
    assert lc["views"]["empty"] == {"rho": None, "n": 0, "n_scored": 0, "tracks_length": False,
                                    "why": "fewer than 3 scored rows"}
    assert lc["views"]["flat"]["rho"] is None and "same for every" in lc["views"]["flat"]["why"]
    assert "empty" not in lc["flagged"] and "flat" not in lc["flagged"]
    json.dumps(lc, allow_nan=False)  # strict JSON as it stands


def test_large_tables_use_a_seeded_sample():
    t = _table(n=MAX_ROWS + 5000)
    a, b = length_correlation(t, seed=1), length_correlation(t, seed=1)
    assert a == b
    assert a["views"]["random"]["n"] == MAX_ROWS and a["views"]["random"]["n_scored"] == MAX_ROWS + 5000
    assert a["views"]["longer"]["rho"] == pytest.approx(1.0)


def test_spearman_is_scipys():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    x = rng.integers(0, 30, 500).astype(float)  # ties on both sides
    y = x + rng.integers(0, 20, 500)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)


def test_no_chars_column_is_skipped_not_an_error():
    lc = length_correlation(_table().drop(columns="chars"))
    assert lc["skipped"] and lc["views"] == {} and lc["flagged"] == []
    assert length_warning(lc) is None


def test_summary_json_and_page_show_it(demo_run):
    s = json.loads((demo_run / "summary.json").read_text())
    lc = s["length_correlation"]
    assert set(lc["views"]) == {v["name"] for v in s["views"]} and lc["score"] is not None
    assert lc["length"].startswith("characters")
    page = (demo_run / "report.html").read_text()
    assert page.count("<td>ρ with length</td>") == len(s["views"]) + 1  # every view and the combined score
    assert 'id="length-correlation"' in page


def test_a_view_that_is_length_is_flagged_on_the_page_and_in_one_terminal_line(demo_run, tmp_path, capsys):
    from sft_select.config.schema import build_config
    from sft_select.report import report_after_run
    from sft_select.report.rundata import read_run_checked

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    manifest, table = read_run_checked(run)
    view = next(c[: -len("_raw")] for c in table.columns if c.endswith("_raw"))
    table[f"{view}_raw"] = table[view] = table["chars"].where(table[view].notna()).astype(float)
    capsys.readouterr()
    assert report_after_run(run, build_config({}).report, manifest=manifest, table=table) is not None
    err = capsys.readouterr().err
    flat = " ".join(err.split())  # rich wraps the line at the test console's width
    assert flat.count("warning:") == 1 and f"warning: {view} (ρ = 1.0) mostly tracks length" in flat, err
    s = json.loads((run / "summary.json").read_text())
    assert view in s["length_correlation"]["flagged"]
    assert "mostly tracks length" in (run / "report.html").read_text()


def test_no_flag_prints_nothing_new(demo_run, tmp_path, capsys):
    from sft_select.config.schema import build_config
    from sft_select.report import report_after_run

    s = json.loads((demo_run / "summary.json").read_text())
    if s["length_correlation"]["flagged"]:
        pytest.skip("the demo run has a view that tracks length")
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    capsys.readouterr()
    report_after_run(run, build_config({}).report)
    captured = capsys.readouterr()
    assert "warning" not in captured.err + captured.out and "ρ" not in captured.err + captured.out


def test_inspect_prints_the_line_only_when_flagged(demo_run):
    from io import StringIO

    from rich.console import Console

    from sft_select.report.terminal import print_inspect

    s = json.loads((demo_run / "summary.json").read_text())
    outputs = []
    for flagged in (False, True):
        lc = s["length_correlation"]
        view = next(iter(lc["views"]))
        lc["views"][view].update(rho=0.71 if flagged else 0.1, tracks_length=flagged)
        lc["flagged"] = [view] if flagged else []
        buf = StringIO()
        print_inspect(s, Console(file=buf, width=200))
        outputs.append(buf.getvalue())
    assert "mostly tracks length" not in outputs[0]
    assert outputs[1].count("mostly tracks length") == 1 and f"{view} (ρ = 0.71)" in outputs[1]
