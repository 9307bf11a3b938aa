"""How the report scales: build a pool of N rows, run the pipeline, then time `write_report` alone.

Usage: python bench/report_scale.py N [--embedder hashing|static-minilm] [--max-points 5000]
Prints the report's wall time, the size of report.html and summary.json, and the points on the map.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "src"))

from make_demo_data import make_pool, write_jsonl  # noqa: E402

from sft_select.config.schema import build_config  # noqa: E402
from sft_select.pipelines.in_memory import run  # noqa: E402
from sft_select.report import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", type=int)
    ap.add_argument("--embedder", default="hashing")
    ap.add_argument("--max-points", type=int, default=5000)
    ap.add_argument("--keep", type=Path, help="write the run here and keep it (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        pool, target = make_pool(args.n, seed=0)
        write_jsonl(pool, base / "pool.jsonl")
        write_jsonl(target, base / "target.jsonl")
        cfg = build_config({"embedding": {"model": args.embedder}, "select": {"fraction": 0.1},
                            "report": {"enabled": False}})
        start = time.perf_counter()
        run([base / "pool.jsonl"], base / "run", cfg, target=base / "target.jsonl", force=True)
        run_s = time.perf_counter() - start
        from sft_select.io.load import load

        examples = load([base / "pool.jsonl"]).examples
        start = time.perf_counter()  # as at the end of a run: the examples are already in memory
        write_report(base / "run", max_points=args.max_points, examples=examples)
        in_run_s = time.perf_counter() - start
        start = time.perf_counter()  # as `sft-select report RUN_DIR`: re-reads the inputs first
        paths = write_report(base / "run", max_points=args.max_points)
        report_s = time.perf_counter() - start
        import json

        summary = json.loads(paths["summary"].read_text())
        print(f"n={args.n} embedder={args.embedder} run={run_s:.1f}s report_in_run={in_run_s:.1f}s "
              f"report_standalone={report_s:.1f}s "
              f"report.html={paths['report'].stat().st_size / 1e6:.1f}MB "
              f"summary.json={paths['summary'].stat().st_size / 1e6:.2f}MB "
              f"map_points={summary['map'].get('n_points')} of {summary['map'].get('n_total')}")


if __name__ == "__main__":
    main()
