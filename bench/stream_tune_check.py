"""Does tuning on a streaming run's fit sample choose as well as tuning on the whole pool? (not a test)

A streaming run (a pool larger than memory) runs the tune loop on the rows of the sample its views were fit
on, with -n scaled to it (sft_select.tune.loop.tune_on_sample). This script runs the same `sft-select run
--validation` twice on one of the case study's labelled pools (bench/case_study.py: same splits, views
and eval models): held in memory, and streamed with `engine.fit_sample` rows, then trains the eval models
on each selection and reports accuracy on the test split, beside the whole pool and random subsets of the
same size (3 seeds).

    python bench/stream_tune_check.py --dataset imdb --fit-sample 5000 --work /tmp/stc --out stc-imdb.json

Scratch files go to --work (default: a temp folder), never into the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from case_study import WANTED_VIEWS, Evaluator, eval_models, splits, write_jsonl  # noqa: E402
from sft_select.config.schema import build_config  # noqa: E402
from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.embed.embedders import embed_examples  # noqa: E402
from sft_select.pipelines.in_memory import run  # noqa: E402
from sft_select.views.registry import registered  # noqa: E402


def config(args, views: list[str], streaming: bool) -> dict:
    return {
        "seed": args.seed, "embedding": {"model": "static-minilm"}, "views": {"use": views},
        "select": {"fraction": args.fraction, "strategy": args.strategy, "quota_by": "label"},
        "evaluate": {"proxy": "classifier", "classifier": {"model": "logreg"}},
        "tune": {"rounds": 2, "trials": 10, "sweep": [0.5, 0.75, 1.0], "holdout": 0.3, "random_seeds": 3,
                 "choose": args.choose},
        "engine": {"streaming": "on" if streaming else "off", "fit_sample": args.fit_sample,
                   "chunk_size": args.chunk_size},
        "report": {"enabled": False},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="imdb", choices=["imdb", "20news-noisy", "20news"])
    ap.add_argument("--fit-sample", type=int, default=5000)
    ap.add_argument("--chunk-size", type=int, default=5000)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--strategy", default="coverage")
    ap.add_argument("--choose", default="one_se")
    ap.add_argument("--eval-models", default="static,tfidf")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default="stream_tune_check.json")
    args = ap.parse_args()
    data = shared_data()
    if data is None:
        raise SystemExit("../shared/data is absent: nothing to run on")
    work = Path(args.work or tempfile.mkdtemp(prefix="stc-")) / args.dataset
    work.mkdir(parents=True, exist_ok=True)
    pool_rows, val_rows, test_rows, facts = splits(args.dataset, data, args.seed)
    pool_file, val_file = write_jsonl(pool_rows, work / "pool.jsonl"), write_jsonl(val_rows, work / "validation.jsonl")
    test_file = write_jsonl(test_rows, work / "test.jsonl")
    pool, val, test = (load([f]).examples for f in (pool_file, val_file, test_file))
    views = [v for v in WANTED_VIEWS if v in registered()]
    texts = lambda rows: [r["text"] for r in rows]  # noqa: E731
    labels = lambda rows: [r["label"] for r in rows]  # noqa: E731
    static = tuple(embed_examples(x, "static-minilm") for x in (pool, val, test))
    models = eval_models(args.eval_models.split(","), texts(pool_rows), texts(val_rows), texts(test_rows),
                         labels(pool_rows), labels(val_rows), labels(test_rows), static, work / "embeddings")
    ev = Evaluator(pool, models, set(facts.get("flipped", [])) | set(facts.get("confirmed_errors", [])))
    res: dict = {"dataset": args.dataset, "pool": len(pool), "validation": len(val), "test": len(test),
                 "fit_sample": args.fit_sample, "fraction": args.fraction, "strategy": args.strategy,
                 "choose": args.choose, "views": views, "load_start": os.getloadavg()[0], "rows": {}}
    res["rows"]["whole pool"] = ev([ex.id for ex in pool])
    for mode in ("in memory", "streamed"):
        t = time.perf_counter()
        cfg = build_config(config(args, views, streaming=mode == "streamed"))
        out = work / mode.replace(" ", "-")
        result = run([pool_file], out, cfg, target=val_file, validation=val_file, force=True)
        tune = json.loads((out / "tune.json").read_text())
        row = ev(result.selected_ids)
        row.update(seconds=round(time.perf_counter() - t, 1), tuned_weights=tune["best"]["weights"],
                   tuned_threshold=tune["best"]["threshold"], f_tune=tune["best"]["f"],
                   f_holdout=tune["best"]["f_holdout"], sample=tune.get("sample"))
        res["rows"][mode] = row
        print(f"[{args.dataset}] {mode}: {json.dumps(row)}", flush=True)
    size = res["rows"]["in memory"]["size"]
    ids = [ex.id for ex in pool]
    runs = [ev([ids[i] for i in np.random.default_rng(s).choice(len(ids), size, replace=False)]) for s in (1, 2, 3)]
    res["rows"]["random (3 seeds)"] = {m.name: round(float(np.mean([r[m.name] for r in runs])), 4) for m in models}
    res["rows"]["random (3 seeds)"]["size"] = size
    res["load_end"] = os.getloadavg()[0]
    for name, row in res["rows"].items():
        print(f"[{args.dataset}] {name:18s} n={row['size']:5d} "
              + " ".join(f"{m.name} {row[m.name]:.4f}" for m in models))
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
