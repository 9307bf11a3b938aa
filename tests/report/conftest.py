"""Run directories for the report tests: the demo pool, a pool with hostile texts, and a labelled pool.

Runs use the model-free `hashing` embedder so they take about a second each.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

from make_demo_data import make_pool  # noqa: E402

XSS = [
    "<script>window.__xss = 1</script> How do I reverse a list in Python?",
    "<img src=x onerror=\"window.__xss = 2\"> How do I merge two dictionaries in Python?",
    "</script><script>window.__xss = 3</script> How do I parse JSON from a string in Python?",
    "[bold red]rich markup[/] and {{ jinja }} and ${template} in Python?",
]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def do_run(pool: Path, out: Path, target: Path | None = None, **cfg_extra):
    from sft_select.config.schema import build_config
    from sft_select.pipelines.in_memory import run

    cfg = {"embedding": {"model": "hashing"}, "select": {"n": 60}}
    for key, value in cfg_extra.items():
        cfg[key] = value
    return run([pool], out, build_config(cfg), target=target, force=True)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo pool (400 rows: duplicates, refusals, off-topic items) selected down to 60."""
    base = tmp_path_factory.mktemp("demo")
    pool, target = make_pool(400, seed=0)
    do_run(write_jsonl(pool, base / "pool.jsonl"), base / "run", write_jsonl(target, base / "target.jsonl"))
    return base / "run"


@pytest.fixture(scope="session")
def xss_run(tmp_path_factory) -> Path:
    """A small pool whose texts try to run scripts in the report (each must show as plain text)."""
    base = tmp_path_factory.mktemp("xss")
    rows = [{"instruction": q, "input": "", "output": "Use the standard library; the answer is short. " * (i + 1)}
            for i, q in enumerate(XSS)]
    pool, target = make_pool(30, seed=3)
    rows += pool[:6]
    do_run(write_jsonl(rows, base / "pool.jsonl"), base / "run", write_jsonl(target, base / "target.jsonl"),
           select={"n": 5})
    return base / "run"


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory) -> Path:
    """Labelled text (text_label format): the report shows a class distribution before and after."""
    base = tmp_path_factory.mktemp("labelled")
    pool, _ = make_pool(200, seed=2)
    rows = [{"text": f"{r['instruction']} {r['output']}", "label": "python" if "python" in r["instruction"].lower()
             else "other"} for r in pool]
    do_run(write_jsonl(rows, base / "pool.jsonl"), base / "run", views={"use": ["quality_heuristic"]},
           select={"fraction": 0.3})
    return base / "run"


LONG_LABELS = [f"a long class name number {i} about {topic}" for i, topic in
               enumerate(["organic chemistry and lab safety", "medieval European history", "travel in Iceland"])]
LONG_DIR = "an_input_folder_with_a_very_long_name_that_does_not_break_" * 3


@pytest.fixture(scope="session")
def big_page(demo_run, tmp_path_factory) -> Path:
    """A report page as a 100k-row run would draw it, built in about a second: the demo run's summary
    with its map swapped for 5,000 synthetic points out of 100,000 (exact repeats with `~k` ids among
    them), long class labels and a long input path. The page is what is tested, not the run."""
    import numpy as np

    from sft_select.report.html import json_safe, render_html
    from sft_select.report.rundata import open_run
    from sft_select.report.summary import build_summary

    data = open_run(demo_run)
    summary = build_summary(data)
    rng = np.random.default_rng(0)
    n = 5000
    hashes = [f"{rng.integers(1 << 48):012x}{rng.integers(1 << 48):012x}" for _ in range(n // 2)]
    ids = hashes + [f"{h}~1" for h in hashes]  # each hash twice: the kept example and its repeat
    status = rng.choice(["selected", "not selected", "duplicate"], size=n, p=[0.5, 0.45, 0.05]).tolist()
    summary["map"].update(
        n_points=n, n_total=100_000,
        status_totals={"selected": 10_000, "not selected": 86_000, "duplicate": 4_000},
        points={"id": ids, "x": np.round(rng.normal(size=n), 4).tolist(), "y": np.round(rng.normal(size=n), 4).tolist(),
                "status": status, "weight": [20.0] * n, "cluster": [f"k{c}" for c in rng.integers(0, 12, n)]})
    summary["coverage"]["labels"] = {"categories": LONG_LABELS, "pool": [50_000.0, 30_000.0, 20_000.0],
                                     "selected": [4_000.0, 5_000.0, 1_000.0], "n_categories": 3}
    summary["manifest"]["inputs"] = [{"path": f"/data/{LONG_DIR}/pool.jsonl", "bytes": 51_075_046,
                                      "xxh3_128": "69f30644a7" + "0" * 22}]
    text = "A long example answer that goes on for a while, as answers do, with enough words to wrap. " * 4
    page = render_html(json_safe(summary), lambda i: text)
    path = tmp_path_factory.mktemp("big") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
