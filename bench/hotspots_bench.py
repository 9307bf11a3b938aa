"""Micro-benchmarks of the per-example CPU steps of the default pipeline on a scale_bench pool.

  python bench/hotspots_bench.py /tmp/scale/pool-100000.jsonl --target /tmp/scale/target.jsonl [--only quality,...]

Loads the pool once (pickled next to it in /tmp for re-runs) and times each step alone, in one process:
filters (filter_reason), quality (quality_heuristic fit+score), dsir (relevance_dsir fit+score),
dedup (exact dedup_key), assign (diversity._assign of random unit vectors on 224 centroids).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import time
from pathlib import Path

import numpy as np


def _examples(path: str):
    cache = Path("/tmp") / f"hotspots-{hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:10]}.pkl"
    if cache.exists() and cache.stat().st_mtime > Path(path).stat().st_mtime:
        return pickle.loads(cache.read_bytes())
    from sft_select.io.load import load

    examples = load([path]).examples
    cache.write_bytes(pickle.dumps(examples))
    return examples


def _time(label: str, fn) -> float:
    # CPU time too: on a shared 2-core machine the wall clock mostly measures the neighbours' load.
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:<28} {dt:8.2f} s wall {cpu:8.2f} s cpu   (load {os.getloadavg()[0]:.1f})", flush=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    ap.add_argument("--target", required=True)
    ap.add_argument("--only", default="filters,quality,dsir,dedup,assign")
    args = ap.parse_args()
    only = set(args.only.split(","))
    pool, target = _examples(args.pool), _examples(args.target)
    print(f"{len(pool)} pool examples, {len(target)} target examples")
    if "filters" in only:
        from sft_select.preprocess.config import FilterConfig
        from sft_select.preprocess.filters import apply_filters

        cfg = FilterConfig()
        _time("filters (apply_filters)", lambda: apply_filters(pool, range(len(pool)), cfg))
    if "quality" in only:
        from sft_select.views.quality_heuristic import QualityHeuristic

        view = QualityHeuristic()
        _time("quality_heuristic score",
              lambda: [view.score_batch(pool[i:i + 1024]) for i in range(0, len(pool), 1024)])
    if "dsir" in only:
        from sft_select.views.relevance_dsir import RelevanceDSIR

        view = RelevanceDSIR()
        _time("relevance_dsir fit", lambda: view.fit(pool, target))
        _time("relevance_dsir score", lambda: [view.score_batch(pool[i:i + 1024]) for i in range(0, len(pool), 1024)])
    if "dedup" in only:
        from sft_select.preprocess.exact import dedup_key

        _time("exact dedup_key", lambda: [dedup_key(ex) for ex in pool])
    if "assign" in only:
        from sft_select.views.diversity import _assign

        rng = np.random.default_rng(0)
        vec = rng.normal(size=(len(pool), 256)).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        cen = rng.normal(size=(224, 256))
        cen /= np.linalg.norm(cen, axis=1, keepdims=True)
        _time("diversity _assign", lambda: [_assign(vec[i:i + 1024], cen) for i in range(0, len(vec), 1024)])


if __name__ == "__main__":
    main()
