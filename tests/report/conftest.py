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
