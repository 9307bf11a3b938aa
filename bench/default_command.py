"""The plain default command on real labelled pools, against random subsets of the same size and the whole pool.

What a user types, and nothing else:

    sft-select run pool.jsonl --fraction 0.2 --out DIR
    sft-select run pool.jsonl --validation validation.jsonl --fraction 0.2 --out DIR

For each dataset and seed the splits of bench/case_study.py are drawn (20news-noisy: 20% of the pool's labels
flipped; imdb: the confirmed label errors stay), both commands run as subprocesses of the installed CLI, and
every eval model (static, tfidf, mlp: case_study.EvalModel) is trained on S, on random subsets of |S|
(`--random-seeds` draws) and on the whole pool; test accuracy is read on a split no command ever sees. The
guard's decision (manifest.json `guard`) is reported per seed.

    python bench/default_command.py --datasets 20news-noisy,imdb --seeds 0,1,2 --work /tmp/defaults \
        --out /tmp/defaults/result.json

Scratch files go to --work, never into the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from case_study import Evaluator, eval_models, splits, write_jsonl  # noqa: E402
from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.embed.embedders import embed_examples  # noqa: E402

# The CLI of this checkout (python -m sft_select with its src first on the path), not whatever sft-select
# the environment installed: a benchmark run from a snapshot measures the snapshot.
SRC = Path(__file__).resolve().parents[1] / "src"
CLI = [sys.executable, "-m", "sft_select"]
COMMANDS = {"plain": [], "validation": ["--validation", "{val}"],
            # the best configuration of the case study: a proxy that fits S, flipped labels included, as a fine-tune
            "validation-mlp": ["--validation", "{val}", "--proxy", "mlp"]}


def run_command(kind: str, pool_file: Path, val_file: Path, out: Path, fraction: float) -> tuple[list[str], dict]:
    extra = [a.format(val=val_file) for a in COMMANDS[kind]]
    cmd = [*CLI, "run", str(pool_file), *extra, "--fraction", str(fraction), "--out", str(out), "--force", "-q"]
    t = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    table = pd.read_parquet(out / "scores.parquet", columns=["id", "selected"])
    ids = table.loc[table["selected"].fillna(False).astype(bool), "id"].tolist()
    manifest = json.loads((out / "manifest.json").read_text())
    info = {"seconds": round(time.perf_counter() - t, 1), "guard": manifest.get("guard"),
            "strategy": manifest.get("config", {}).get("select", {}).get("strategy")}
    return ids, info


def one_seed(name: str, seed: int, args, data: Path) -> dict:
    work = Path(args.work) / f"{name}-s{seed}"
    work.mkdir(parents=True, exist_ok=True)
    pool_rows, val_rows, test_rows, facts = splits(name, data, seed)
    if args.limit:
        pool_rows, val_rows, test_rows = pool_rows[:args.limit], val_rows[:args.limit // 4], test_rows[:args.limit // 2]
        facts = {k: [i for i in v if i < args.limit] if isinstance(v, list) else v for k, v in facts.items()}
    pool_file = write_jsonl(pool_rows, work / "pool.jsonl")
    val_file = write_jsonl(val_rows, work / "validation.jsonl")
    pool = load([pool_file]).examples
    val = load([val_file]).examples
    test = load([write_jsonl(test_rows, work / "test.jsonl")]).examples
    noisy = set(facts.get("flipped", [])) | set(facts.get("confirmed_errors", []))
    texts = lambda rows: [r["text"] for r in rows]  # noqa: E731
    labels = lambda rows: [r["label"] for r in rows]  # noqa: E731
    static = tuple(embed_examples(x, "static-minilm") for x in (pool, val, test))
    models = eval_models(args.eval_models, texts(pool_rows), texts(val_rows), texts(test_rows), labels(pool_rows),
                         labels(val_rows), labels(test_rows), static, Path(args.work) / "embeddings",
                         fixed={"tfidf": 1.0, "mlp": 0.01})
    ev = Evaluator(pool, models, noisy)
    out: dict = {"dataset": name, "seed": seed, "pool": len(pool), "validation": len(val), "test": len(test),
                 "methods": {}}
    m = out["methods"]
    m["whole pool"] = ev([ex.id for ex in pool])
    size = None
    for kind in args.commands:
        ids, info = run_command(kind, pool_file, val_file, work / f"run-{kind}", args.fraction)
        m[f"default ({kind})"] = {**ev(ids), **info}
        size = size or len(ids)
        print(f"[{name} s{seed}] {kind}: " + json.dumps(m[f'default ({kind})']), flush=True)
    size = size or int(round(args.fraction * len(pool)))
    randoms = []
    for k in range(args.random_seeds):
        pick = np.random.default_rng(1000 * seed + k).choice(len(pool), size=size, replace=False)
        randoms.append(ev([pool[i].id for i in pick]))
    m["random"] = {key: round(float(np.mean([r[key] for r in randoms])), 4) for key in randoms[0]}
    m["random"]["runs"] = randoms
    print(f"[{name} s{seed}] whole {m['whole pool']} random {({k: v for k, v in m['random'].items() if k != 'runs'})}",
          flush=True)
    return out


def markdown(results: list[dict], models: list[str]) -> str:
    lines = []
    for name in dict.fromkeys(r["dataset"] for r in results):
        rs = [r for r in results if r["dataset"] == name]
        methods = list(rs[0]["methods"])
        lines += [f"**{name}** (seeds {', '.join(str(r['seed']) for r in rs)}; test accuracy, mean ± sd over seeds; "
                  "Δ random = paired difference to random subsets of |S|, seeds at least level)", "",
                  "| method | " + " | ".join(models) + " | " + " | ".join(f"Δ random {x}" for x in models) + " |",
                  "|---|" + "---|" * (2 * len(models))]
        for meth in methods:
            cells = []
            for x in models:
                v = [r["methods"][meth][x] for r in rs]
                cells.append(f"{np.mean(v):.4f} ± {np.std(v):.4f}")
            for x in models:
                d = [r["methods"][meth][x] - r["methods"]["random"][x] for r in rs]
                cells.append(f"{100 * np.mean(d):+.2f} ({sum(v >= 0 for v in d)}/{len(d)})")
            lines.append(f"| {meth} | " + " | ".join(cells) + " |")
        for meth in (m for m in methods if m.startswith("default (") and m != "default (plain)"):
            guards = [f"s{r['seed']}: {(r['methods'][meth].get('guard') or {}).get('decision')}" for r in rs]
            lines += ["", f"guard decisions, {meth}: " + ", ".join(guards)]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="20news-noisy,imdb")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--commands", default="plain,validation", help=f"of {', '.join(COMMANDS)}")
    ap.add_argument("--eval-models", default="static,tfidf,mlp")
    ap.add_argument("--random-seeds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="smoke run: the first rows of each split")
    ap.add_argument("--work", default="/tmp/default-command")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.commands = args.commands.split(",")
    args.eval_models = args.eval_models.split(",")
    data = shared_data()
    if data is None:
        print("../shared/data not found: nothing to measure")
        return
    results = []
    for name in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(one_seed(name, seed, args, data))
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=1))
    print(markdown(results, args.eval_models))


if __name__ == "__main__":
    main()
