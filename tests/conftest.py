"""Shared fixtures: small generated pools in every input format, and a CLI runner."""
from __future__ import annotations

import csv
import gzip
import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from make_demo_data import make_pool  # noqa: E402


@pytest.fixture(scope="session")
def demo_rows() -> tuple[list[dict], list[dict]]:
    return make_pool(120, seed=1)


def to_format(rows: list[dict], fmt: str) -> list[dict]:
    """Alpaca rows rewritten in another row format."""
    out = []
    for r in rows:
        prompt = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
        if fmt == "alpaca":
            out.append(dict(r))
        elif fmt == "sharegpt":
            out.append({"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": r["output"]}]})
        elif fmt == "openai":
            out.append({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt},
                                     {"role": "assistant", "content": r["output"]}]})
        elif fmt == "prompt_completion":
            out.append({"prompt": prompt, "completion": r["output"]})
        elif fmt == "text_label":
            label = "python" if "python" in prompt.lower() else "other"
            out.append({"text": f"{prompt} {r['output']}", "label": label})
    return out


def write_file(rows: list[dict], path: Path) -> Path:
    """Write rows in the container type named by the path's suffix (.jsonl, .json, .csv, .parquet, .gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    opener = gzip.open if path.name.endswith(".gz") else open
    if name.endswith(".jsonl"):
        with opener(path, "wt", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif name.endswith(".json"):
        with opener(path, "wt", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False)
    elif name.endswith(".csv"):
        with opener(path, "wt", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    elif name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(path)
    return path


@pytest.fixture
def cli():
    """Invoke the CLI in-process; returns (exit_code, output)."""
    from typer.testing import CliRunner

    from sft_select.cli.app import app

    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.output + (result.stderr if hasattr(result, "stderr") else "")

    return invoke


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole session: starting one per test costs ~10 s and, on a
    loaded machine, an instance torn down and restarted can kill actors mid-test (ActorDiedError).
    Workers get this worktree's src/ on PYTHONPATH, so they run the code under test, not an installed copy."""
    ray = pytest.importorskip("ray", reason="ray[data] is not installed")
    if not ray.is_initialized():
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "src")}})
    yield ray
    ray.shutdown()
