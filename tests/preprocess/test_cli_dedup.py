"""`sft-select dedup` and the preprocessing parts of `sft-select run`, through the CLI."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from make_demo_data import make_pool, write_jsonl  # noqa: E402


@dataclass
class Result:
    returncode: int
    stderr: str


def cli(*args: str) -> Result:
    """The CLI in-process (typer's runner): no interpreter start-up per call."""
    from typer.testing import CliRunner

    from sft_select.cli.app import app

    res = CliRunner().invoke(app, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return Result(res.exit_code, res.output)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    pool, target = make_pool(400, seed=0)
    write_jsonl(pool, folder / "pool.jsonl")
    write_jsonl(target, folder / "target.jsonl")
    return folder


def test_dedup_writes_kept_rejected_and_manifest(demo, tmp_path):
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"q": "Augustus, born Octavian, became the first Roman emperor in 27 BC after "
                                   "defeating Mark Antony"}) + "\n", encoding="utf-8")
    out = tmp_path / "dd"
    res = cli("dedup", str(demo / "pool.jsonl"), "--out", str(out), "--decontaminate", str(ev))
    assert res.returncode == 0, res.stderr
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(kept) + len(rejected) == 400
    assert set(kept[0]) == {"instruction", "input", "output"}  # rows as they were read
    reasons = {r["reason"].split(":")[0] for r in rejected}
    assert reasons == {"duplicate_exact", "duplicate_near", "decontaminated"}
    ids = {r.get("id") for r in rejected}
    for r in rejected:
        if r["reason"].startswith("duplicate"):
            assert r["kept_id"] and r["kept_id"] not in ids  # points at a row that stayed
    assert [s["step"] for s in manifest["steps"]] == ["decontaminate", "exact_dedup", "near_dedup"]
    assert manifest["counts"]["kept"] == len(kept)
    # No exact duplicate survives.
    assert len({json.dumps(r, sort_keys=True) for r in kept}) == len(kept)


def test_dedup_refuses_to_overwrite_and_reports_bad_flags(demo, tmp_path):
    out = tmp_path / "dd"
    assert cli("dedup", str(demo / "pool.jsonl"), "--out", str(out)).returncode == 0
    again = cli("dedup", str(demo / "pool.jsonl"), "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    bad = cli("dedup", str(demo / "pool.jsonl"), "--out", str(out), "--force", "--near-threshold", "1.5")
    assert bad.returncode == 2 and "threshold" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli("dedup", str(demo / "pool.jsonl"), "--out", str(out), "--force", "--decontaminate", "nope.jsonl")
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr


def test_demo_run_drops_planted_defects_with_reasons(demo, tmp_path):
    out = tmp_path / "run"
    res = cli("run", str(demo / "pool.jsonl"), "--target", str(demo / "target.jsonl"), "-n", "60", "--out", str(out),
              "--embedder", "hashing")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    by_reason = manifest["counts"]["by_reason"]
    for reason in ("filter_empty_response", "filter_truncated", "filter_refusal", "filter_response_repeats_prompt",
                   "duplicate_exact", "duplicate_near"):
        assert by_reason.get(reason, 0) > 0, reason
    steps = {s["step"]: s for s in manifest["steps"]}
    assert steps["filters"]["in"] == 400 and steps["filters"]["out"] < 400
    assert steps["near_dedup"]["details"]["verified_pairs"] > 0
    selected = [json.loads(line) for line in (out / "selected.jsonl").read_text().splitlines()]
    assert all(r["output"] and not r["output"].startswith("As an AI") for r in selected)
    assert manifest["config"]["preprocess"]["near"]["threshold"] == 0.7


def test_dedup_flags_override_only_what_is_given():
    from sft_select.cli.dedup import dedup_overrides

    o = dedup_overrides(exact=None, near=False, near_threshold=0.9, ngram=None, num_perm=None, field=None,
                        semantic=None, semantic_threshold=None, filters=False, lang="en,de", decontaminate=None)
    assert o == {"preprocess": {"near": {"enabled": False, "threshold": 0.9}, "semantic": {},
                                "filters": {"enabled": False, "lang": ["en", "de"]}}}
