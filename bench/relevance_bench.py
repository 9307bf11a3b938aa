"""Benchmark the relevance views on real pools whose topic of every row is known (not a test).

  dolly  dolly_3k_categories: target = 30 random rows of one category (taken out of the pool), for each of
         the 8 categories and each seed; the pool is the other 2,966 rows.
  news   20news_label_errors train, a 4-topic pool: 1,000 random posts from each of the top-level groups
         comp, rec, sci and talk (4,000 rows); target = 20 other posts of one group; each group, seeds 0-2
         (the seed draws both the pool and the target).
  speed  fit + score of each relevance view on 10,000 20news train posts (target 20), embeddings computed
         beforehand (a run shares them between views) and timed on their own; then relevance_learned's
         scoring alone on 100,000 rows (the 10,000 posts ten times, stored embeddings), in CPU seconds.

relevance_learned's defaults were tuned on seed 0 (news and dolly): report the other seeds (--seeds 1,2).

Each case scores the pool with relevance_embedding, relevance_dsir and relevance_learned, and ranks by each
view alone and by the mean of rank-normalized scores of several (the combination a default run makes with
equal weights): precision@k = share of the k top-ranked rows that are of the target's category; k = 100,
500 and the category's size in the pool (R-precision).

Usage: python bench/relevance_bench.py [--parts dolly,news,speed] [--seeds 0,1,2] [--embedder static-minilm]
                                       [--learned '{"folds": 1}']
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.embed.embedders import embed_examples, get_embedder  # noqa: E402
from sft_select.selection.combine import normalize  # noqa: E402
from sft_select.views.registry import build  # noqa: E402

VIEWS = {"embedding": "relevance_embedding", "dsir": "relevance_dsir", "learned": "relevance_learned"}
RANKINGS = {"embedding": ["embedding"], "dsir": ["dsir"], "learned": ["learned"],
            "embedding+dsir": ["embedding", "dsir"],
            "embedding+dsir+learned (the default with a target)": ["embedding", "dsir", "learned"]}
TOP_GROUPS = ("comp", "rec", "sci", "talk")
LEAF_GROUPS = ("comp.graphics", "rec.autos", "sci.med", "talk.politics.guns")


def view_params(embedder: str, learned: dict) -> dict[str, dict]:
    return {"embedding": {"model": embedder}, "dsir": {}, "learned": {"model": embedder, **learned}}


def precisions(pool, target, relevant: np.ndarray, params: dict[str, dict], ks: list[int],
               variants: list[dict]) -> dict:
    raw = {short: build(VIEWS[short], params[short]).fit(pool, target).score_batch(pool).raw for short in VIEWS}
    for extra in variants:  # other relevance_learned parameters, ranked alone
        raw[f"learned {json.dumps(extra)}"] = build(VIEWS["learned"], {**params["learned"], **extra}).fit(
            pool, target).score_batch(pool).raw
    ranked = {short: normalize(r, "rank") for short, r in raw.items()}
    rankings = {**RANKINGS, **{name: [name] for name in raw if name not in VIEWS}}
    out = {}
    for name, parts in rankings.items():
        score = np.mean([ranked[p] for p in parts], axis=0)
        order = np.argsort(-score, kind="stable")
        out[name] = {f"p@{k}": float(relevant[order[:k]].mean()) for k in ks}
    return out


def mean_rows(rows: list[dict], how=np.mean) -> dict:
    return {name: {k: round(float(how([r[name][k] for r in rows])), 3) for k in rows[0][name]}
            for name in rows[0]}


def dolly(data: Path, args) -> dict:
    items = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    cats = np.array([ex.original["category"] for ex in items])
    params = view_params(args.embedder, args.learned)
    rows, out = [], {}
    for seed, cat in ((seed, cat) for seed in args.seeds for cat in sorted(set(cats))):
        if cat == min(cats):
            rng = np.random.default_rng(seed)
        tpos = rng.choice(np.flatnonzero(cats == cat), 30, replace=False)
        keep = np.setdiff1d(np.arange(len(items)), tpos)
        relevant = cats[keep] == cat
        size = int(relevant.sum())
        row = precisions([items[i] for i in keep], [items[i] for i in tpos], relevant, params, [100, 500, size],
                         args.variants)
        row = {name: {("p@size" if k == f"p@{size}" else k): v for k, v in m.items()} for name, m in row.items()}
        rows.append(row)
        out[f"{cat} seed {seed}"] = {"pool_items": size,
                                     **{n: {k: round(v, 3) for k, v in m.items()} for n, m in row.items()}}
        print(cat, seed, json.dumps(out[f"{cat} seed {seed}"]), flush=True)
    out["mean"] = mean_rows(rows)
    return out


def news_rows(data: Path):
    """20news train posts without their mail headers (as scikit-learn's remove=('headers',)): an SFT pool
    has no From/Organization lines, and they would let a view match posters instead of topics."""
    items = load([data / "20news_label_errors" / "20news_train.jsonl.gz"], fmt="text_label",
                 fields={"label": "label_name"}).examples
    items = [replace(ex, id=ex.id + ":body", text=ex.text.partition("\n\n")[2]) for ex in items]
    return items, np.array([ex.label for ex in items])


def news(data: Path, args, pools=("top", "leaf"), target_size: int = 20) -> dict:
    """`top`: 1,000 posts of each of the top-level groups comp, rec, sci, talk (each spans 3-5
    newsgroups); `leaf`: every post of 4 newsgroups, one per top-level group (~560 each)."""
    items, labels = news_rows(data)
    params = view_params(args.embedder, args.learned)
    out = {}
    for kind in pools:
        groups = np.array([x.split(".")[0] for x in labels]) if kind == "top" else labels
        names, per_group = (TOP_GROUPS, 1000) if kind == "top" else (LEAF_GROUPS, None)
        rows = []
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            chosen = {g: rng.permutation(np.flatnonzero(groups == g)) for g in names}
            pool_idx = np.sort(np.concatenate([c[target_size:][:per_group] for c in chosen.values()]))
            pool = [items[i] for i in pool_idx]
            for g in names:
                relevant = groups[pool_idx] == g
                size = int(relevant.sum())
                row = precisions(pool, [items[i] for i in chosen[g][:target_size]], relevant, params,
                                 [100, 500, size], args.variants)
                row = {n: {("p@size" if k == f"p@{size}" else k): v for k, v in m.items()} for n, m in row.items()}
                rows.append(row)
                out[f"{kind} {g} seed {seed}"] = {"pool": len(pool), "size": size,
                                                  **{n: {k: round(v, 3) for k, v in m.items()} for n, m in row.items()}}
                print(kind, g, seed, json.dumps(out[f"{kind} {g} seed {seed}"]), flush=True)
        out[f"{kind} mean"] = mean_rows(rows)
        out[f"{kind} min"] = mean_rows(rows, np.min)
    return out


def speed(data: Path, args, n: int = 10_000) -> dict:
    items, labels = news_rows(data)
    rng = np.random.default_rng(args.seeds[0])
    order = rng.permutation(len(items))
    pool = [items[i] for i in order[:n]]
    target = [items[i] for i in order[n:] if labels[i].startswith("sci.")][:20]
    get_embedder(args.embedder)
    start = time.perf_counter()
    embed_examples(pool + target, args.embedder)
    out = {"rows": n, "embed_s (from the on-disk cache when warm)": round(time.perf_counter() - start, 2)}
    for short, params in view_params(args.embedder, args.learned).items():
        view = build(VIEWS[short], params)
        start = time.perf_counter()
        view.fit(pool, target)
        fit = time.perf_counter() - start
        view.score_batch(pool)
        out[VIEWS[short]] = {"fit_s": round(fit, 2), "fit_plus_score_s": round(time.perf_counter() - start, 2)}
        print(VIEWS[short], out[VIEWS[short]], flush=True)
    big = [replace(ex, id=f"{ex.id}:{copy}") for copy in range(10) for ex in pool]
    embed_examples(big, args.embedder)  # stored, as in a run where the other views embedded the pool
    view = build(VIEWS["learned"], view_params(args.embedder, args.learned)["learned"]).fit(pool, target)
    start = time.process_time()
    for i in range(0, len(big), 1024):  # the default batch size
        view.score_batch(big[i:i + 1024])
    cpu = time.process_time() - start
    out["relevance_learned score 100k"] = {"cpu_s": round(cpu, 2), "rows_per_cpu_s": round(len(big) / cpu)}
    print(out["relevance_learned score 100k"], flush=True)
    return out


def table(result: dict, ks: list[str]) -> str:
    lines = ["| ranking | " + " | ".join(ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for name, m in result.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in ks) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="dolly,news,speed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--embedder", default="static-minilm")
    parser.add_argument("--learned", default="{}", help="relevance_learned parameters (JSON), used alone and combined")
    parser.add_argument("--variants", default="[]",
                        help="JSON list of other relevance_learned parameters, ranked alone")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "relevance.json"))
    args = parser.parse_args()
    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to benchmark")
        return
    args.learned, args.variants = json.loads(args.learned), json.loads(args.variants)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    parts = {"dolly": dolly, "news": news, "speed": speed}
    results = {"embedder": args.embedder, "learned": args.learned, "seeds": args.seeds,
               "load_before": os.getloadavg()}
    for name in args.parts.split(","):
        start = time.perf_counter()
        results[name] = parts[name](data, args)
        print(f"## {name} ({time.perf_counter() - start:.0f} s)", flush=True)
        for key, value in results[name].items():
            if key.endswith(("mean", "min")):
                print(f"{name} {key}\n{table(value, ['p@100', 'p@500', 'p@size'])}")
    results["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"load average before {results['load_before']}, after {results['load_after']} → {args.out}")


if __name__ == "__main__":
    main()
