import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sft_select.cli.app import app

from .conftest import XSS, do_run, make_pool, write_jsonl


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def _ids(run, status):
    t = pd.read_parquet(run / "scores.parquet")
    if status == "selected":
        return t.loc[t["selected"], "id"].tolist()
    return t.loc[t["reason"].fillna("").str.startswith(status), "id"].tolist()


def test_explain_selected_example(demo_run):
    eid = _ids(demo_run, "selected")[0]
    code, out = invoke("explain", demo_run, eid, "--json")
    assert code == 0
    d = json.loads(out)
    assert d["selected"] and d["verdict"].startswith("kept: rank")
    assert 1 <= d["rank"] <= 60 and d["score"] >= d["cut"]
    assert {v["view"] for v in d["views"]} >= {"quality_heuristic", "relevance_embedding"}
    total = sum(v["contribution"] for v in d["views"])
    # the contributions add up to the combined score (6 decimals each)
    assert total == pytest.approx(d["score"], abs=1e-5)
    assert d["text"]


def test_explain_duplicate_names_the_kept_member(demo_run):
    eid = _ids(demo_run, "duplicate")[0]
    d = json.loads(invoke("explain", demo_run, eid, "--json")[1])
    assert d["status"] == "duplicate" and d["kept_id"]
    assert d["kept_id"] in d["verdict"]
    members = {m["id"] for m in d["duplicates"]["members"]}
    assert {eid, d["kept_id"]} <= members and d["duplicates"]["size"] >= 2


def test_explain_not_selected_names_the_view_that_held_it_back(demo_run):
    eid = _ids(demo_run, "not_selected")[0]
    d = json.loads(invoke("explain", demo_run, eid, "--json")[1])
    assert d["rank"] > 60 and d["score"] < d["cut"]
    assert d["held_back_most_by"] in {v["view"] for v in d["views"]}
    code, out = invoke("explain", demo_run, eid)
    assert code == 0 and "rank" in out and "Per view" in out


def test_explain_by_unique_prefix_and_errors(demo_run):
    ids = pd.read_parquet(demo_run / "scores.parquet")["id"]
    eid = next(i for i in _ids(demo_run, "selected") if (ids.str[:16] == i[:16]).sum() == 1)
    assert json.loads(invoke("explain", demo_run, eid[:16], "--json")[1])["id"] == eid
    code, out = invoke("explain", demo_run, ids[ids.str.contains("~")].iloc[0].split("~")[0][:10])
    assert code == 2 and "matches" in out
    code, out = invoke("explain", demo_run, "zzzzzzzz")
    assert code == 2 and "no example with id" in out
    code, out = invoke("explain", demo_run.parent, "x")
    assert code == 2 and "not a finished" in out


def test_inspect_prints_the_summary(demo_run):
    code, out = invoke("inspect", demo_run)
    assert code == 0
    for part in ("Funnel", "unique after dedup", "quality_heuristic", "Spearman", "Coverage", "not tuned"):
        assert part in out
    code, out = invoke("inspect", demo_run, "--json")
    assert json.loads(out)["funnel"]["selected"] == 60


def test_inspect_and_explain_print_hostile_text_as_written(xss_run):
    t = pd.read_parquet(xss_run / "scores.parquet")
    eid = t["id"].iloc[3]  # the rich-markup example
    code, out = invoke("explain", xss_run, eid)
    assert code == 0 and "[bold red]rich markup[/]" in out


def test_report_command_rewrites_both_files(demo_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    (run / "report.html").unlink()
    (run / "summary.json").unlink()
    code, out = invoke("report", run, "--no-map")
    assert code == 0 and (run / "report.html").exists() and (run / "summary.json").exists()
    assert "skipped" in json.loads((run / "summary.json").read_text())["map"]


def test_a_failing_report_never_loses_the_run(tmp_path, monkeypatch, capsys):
    import sft_select.report as report

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(report, "_write", broken)  # what write_report and the end-of-run report both call
    pool, target = make_pool(50, seed=4)
    result = do_run(write_jsonl(pool, tmp_path / "pool.jsonl"), tmp_path / "run")
    assert (tmp_path / "run" / "manifest.json").exists() and (tmp_path / "run" / "selected.jsonl").exists()
    assert not (tmp_path / "run" / "report.html").exists()
    assert len(result.selected_ids) > 0


def test_report_can_be_turned_off_and_reselect_rewrites_it(tmp_path):
    from sft_select.pipelines.reselect import reselect

    pool, _ = make_pool(50, seed=4)
    do_run(write_jsonl(pool, tmp_path / "pool.jsonl"), tmp_path / "run", report={"enabled": False})
    assert not (tmp_path / "run" / "report.html").exists()
    reselect(tmp_path / "run", {"select": {"n": 5, "fraction": None, "threshold": None}, "report": {"enabled": True}})
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["funnel"]["selected"] == 5


def test_report_config_rejects_unknown_keys():
    from sft_select.config.schema import build_config
    from sft_select.core.errors import ConfigError

    with pytest.raises(ConfigError, match="report.colour"):
        build_config({"report": {"colour": "blue"}})
    with pytest.raises(ConfigError, match="max_points"):
        build_config({"report": {"max_points": 3}})


def test_xss_fixture_texts_reach_the_run(xss_run):
    ids = pd.read_parquet(xss_run / "scores.parquet")["id"]
    d = json.loads(invoke("explain", xss_run, ids.iloc[0], "--json")[1])
    assert d["text"].startswith(XSS[0])


def test_the_report_written_alongside_the_outputs_is_the_one_written_after_them(tmp_path):
    """With workers on, a forked worker writes the report while the outputs are written; it must say
    what the serial run's report says, except the timings (which end with the selection there)."""
    import multiprocessing

    pool = write_jsonl(make_pool(120, seed=5)[0], tmp_path / "pool.jsonl")
    do_run(pool, tmp_path / "one", engine={"workers": 1})
    do_run(pool, tmp_path / "two", engine={"workers": 2})
    assert not multiprocessing.active_children()
    one, two = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert "write" in one["manifest"]["timings"] and "write" not in two["manifest"]["timings"]
    assert "write" in json.loads((tmp_path / "two" / "manifest.json").read_text())["timings"]
    for s in (one, two):
        s["run"].pop("dir")
        s["manifest"]["config"]["engine"].pop("workers")
    assert _without_clock(one) == _without_clock(two)
    assert (tmp_path / "two" / "report.html").stat().st_size > 10_000


def _without_clock(value):
    """A summary without what the clock measured (step timings, view and stage seconds)."""
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if "seconds" not in k and k != "timings"}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


def test_a_background_report_that_cannot_come_back_never_loses_the_run(tmp_path, monkeypatch, capsys):
    """The report worker's answer does not pickle (any failure between worker and run): a warning, and
    the run still finishes with its outputs and manifest."""
    import sft_select.report as report

    monkeypatch.setattr(report, "_write_safely", lambda *args: (lambda: None, None))  # a lambda does not pickle
    pool, _ = make_pool(50, seed=4)
    do_run(write_jsonl(pool, tmp_path / "pool.jsonl"), tmp_path / "run", engine={"workers": 2})
    assert (tmp_path / "run" / "manifest.json").exists() and (tmp_path / "run" / "selected.jsonl").exists()
    assert "the report could not be written" in capsys.readouterr().err


def test_an_ambiguous_prefix_lists_the_ids_it_matches(tmp_path):
    from types import SimpleNamespace

    from sft_select.core.errors import InputError
    from sft_select.report.explain import SHOWN_MATCHES, find_row

    ids = [f"abcd{i:04d}" for i in range(SHOWN_MATCHES + 3)]
    data = SimpleNamespace(table=pd.DataFrame({"id": ids}), run_dir=tmp_path)
    with pytest.raises(InputError) as caught:
        find_row(data, "abcd")
    message = str(caught.value)
    assert f"matches {len(ids)} ids" in message and "and 3 more" in message
    assert all(i in message for i in ids[:SHOWN_MATCHES]) and ids[-1] not in message
    assert SHOWN_MATCHES == 10
