"""Scaling benchmark (not a test): wall time, examples/s and peak RSS of a full `sft-select run` with
the default (non-LM) views, for growing pool sizes, local engine (and optionally Ray).

Each size runs in a fresh subprocess so peak RSS (ru_maxrss of the child) is that run's alone.
The pool is generated: Alpaca-sized rows (~60-word instruction+input, ~120-word response) built
from a seeded vocabulary, so dedup and scoring do real work.

    python bench/scale_bench.py --sizes 10000 100000 [--engine local ray] [--out bench/out/scale]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB_SIZE = 20_000


def make_rows(n: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = [f"w{i:05d}" for i in range(VOCAB_SIZE)]
    weights = [1.0 / (i + 1) for i in range(VOCAB_SIZE)]  # Zipf-like, as real text
    for i in range(n):
        words = rng.choices(vocab, weights=weights, k=180)
        yield {"instruction": " ".join(words[:40]) + "?", "input": " ".join(words[40:60]),
               "output": " ".join(words[60:]) + "."}


def write_pool(path: Path, n: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in make_rows(n):
            fh.write(json.dumps(row) + "\n")
    tmp.rename(path)


def run_once(pool: Path, target: Path, out: Path, n_select: int, engine: str) -> dict:
    cmd = [sys.executable, "-m", "sft_select", "-q", "run", str(pool), "--target", str(target), "-n", str(n_select),
           "--out", str(out), "--force", "--engine", engine]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
            "timings": manifest["timings"], "views": manifest["views"]["used"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--engine", nargs="+", default=["local"])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale")
    args = ap.parse_args()
    target = args.out / "target.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w") as fh:
        for row in make_rows(30, seed=99):
            fh.write(json.dumps(row) + "\n")
    results = []
    for engine in args.engine:
        for n in args.sizes:
            pool = args.out / f"pool-{n}.jsonl"
            write_pool(pool, n)
            # Warm caches that are not part of the measured work (the distilled embedder).
            r = run_once(pool, target, args.out / f"run-{engine}-{n}", max(1, n // 10), engine)
            r.update(engine=engine, n=n, examples_per_s=round(n / r["wall_s"], 1))
            results.append(r)
            print(json.dumps(r), flush=True)
    local = [r for r in results if r["engine"] == "local"]
    if len(local) >= 2:
        a, b = local[0], local[-1]
        exponent = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["n"] / a["n"])
        print(json.dumps({"growth_exponent_time_vs_size": round(exponent, 3)}))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
