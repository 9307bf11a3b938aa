"""Selection case study on real noisy labelled data: does multi-view selection beat random and top-N?

For each dataset, a labelled pool is reduced to 20% and 50% by several methods; a classifier (logistic
regression on static-minilm embeddings, the tune loop's default proxy) is trained on each subset and
its accuracy is measured on a test split that no method ever sees:

  random (3 seeds) · whole pool · cleanlab's filter (find_label_issues on 5-fold out-of-fold
  probabilities, every flagged row dropped) · top-N by one view (each view alone) · ours untuned
  (equal weights) · ours tuned (`sft_select.pipeline.run(..., validation=...)`: the closed loop picks
  the view weights and τ on the validation split, then selects with per-label quotas)

Datasets (from ../shared/data, see its README): `20news` (train 11,314 as the pool, test split into
1,500 validation + 6,032 test), `20news-noisy` (the same with 20% of the pool's labels flipped at
random, seeded: the regime of label-noise case studies), `imdb` (25,000 reviews: pool 15,000,
validation 2,000, test 8,000). For the noisy variant the share of flipped labels inside each subset is
reported too.

Views are taken from the registry by name; views not registered in this build are listed and skipped.

    python bench/case_study.py --datasets 20news,20news-noisy,imdb --out case_study.json

Scratch files go to --work (default: a temp folder), never into the repository.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from sft_select.config import build_config  # noqa: E402
from sft_select.evaluate.proxy_classifier import LogRegProxy  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.paths import shared_data  # noqa: E402
from sft_select.views.registry import registered  # noqa: E402

WANTED_VIEWS = ("quality_label", "difficulty_margin", "diversity", "relevance_embedding", "relevance_dsir",
                "quality_heuristic")


def read_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def splits(name: str, data: Path, seed: int) -> tuple[list[dict], list[dict], list[dict], dict]:
    """(pool, validation, test) rows as {text, label}, plus facts about the noise."""
    rng = np.random.default_rng(seed)
    if name.startswith("20news"):
        train = read_gz(data / "20news_label_errors" / "20news_train.jsonl.gz")
        test = read_gz(data / "20news_label_errors" / "20news_test.jsonl.gz")
        perm = rng.permutation(len(test))
        val_rows, test_rows = [test[i] for i in perm[:1500]], [test[i] for i in perm[1500:]]
        pool = [{"text": r["text"], "label": r["label_name"]} for r in train]
        facts: dict = {"pool_source": "20news train", "flipped": []}
        if name == "20news-noisy":
            classes = sorted({r["label"] for r in pool})
            flip = rng.random(len(pool)) < 0.2
            for i in np.flatnonzero(flip):
                others = [c for c in classes if c != pool[i]["label"]]
                pool[i] = {"text": pool[i]["text"], "label": others[int(rng.integers(len(others)))]}
            facts["flipped"] = [int(i) for i in np.flatnonzero(flip)]
        to_row = lambda r: {"text": r["text"], "label": r["label_name"]}  # noqa: E731
        return pool, [to_row(r) for r in val_rows], [to_row(r) for r in test_rows], facts
    if name == "imdb":
        rows = read_gz(data / "imdb_label_errors" / "imdb_test.jsonl.gz")
        perm = rng.permutation(len(rows))
        pick = lambda idx: [{"text": rows[i]["text"], "label": rows[i]["label_name"]} for i in idx]  # noqa: E731
        pool_idx = perm[:15000]
        facts = {"pool_source": "imdb (aclImdb test)",
                 "confirmed_errors": [int(k) for k, i in enumerate(pool_idx) if rows[i].get("is_label_error") is True]}
        return pick(pool_idx), pick(perm[15000:17000]), pick(perm[17000:]), facts
    raise SystemExit(f"unknown dataset {name}")


class Evaluator:
    """Train the proxy on a subset of the pool, report test accuracy and macro-F1 (and noise inside S)."""

    def __init__(self, pool_examples, test_examples, noisy_rows: set[int]):
        self.pool = pool_examples
        self.by_id = {ex.id: ex for ex in pool_examples}
        self.test = test_examples
        self.noisy = {pool_examples[i].id for i in noisy_rows}
        self.proxy = LogRegProxy(embedder="static-minilm")

    def __call__(self, ids) -> dict:
        ids = list(ids)
        s = self.proxy.evaluate([self.by_id[i] for i in ids], self.test, seed=0)
        out = {"size": len(ids), "accuracy": round(s.metrics["accuracy"], 4), "macro_f1": round(s.metrics["macro_f1"], 4)}
        if self.noisy:
            out["noisy_share"] = round(len(self.noisy & set(ids)) / max(1, len(ids)), 4)
        return out


def cleanlab_filter(pool_examples, seed: int) -> list[str]:
    """cleanlab's recipe: out-of-fold probabilities (5-fold LR on the same embeddings), drop flagged rows."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    from sft_select.embed import embed_examples

    X = embed_examples(pool_examples, "static-minilm")
    classes = sorted({ex.label for ex in pool_examples})
    y = np.searchsorted(classes, [ex.label for ex in pool_examples])
    with threadpool_limits(limits=1):
        probs = cross_val_predict(LogisticRegression(max_iter=1000), X, y, method="predict_proba",
                                  cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    issues = find_label_issues(y, probs, filter_by="prune_by_noise_rate")
    return [ex.id for ex, bad in zip(pool_examples, issues) if not bad]


def run_dataset(name: str, args, data: Path) -> dict:
    from sft_select.pipeline import run as run_pipeline
    from sft_select.table import finalize

    t0 = time.perf_counter()
    work = Path(args.work) / name
    work.mkdir(parents=True, exist_ok=True)
    pool_rows, val_rows, test_rows, facts = splits(name, data, args.seed)
    if args.limit:  # a quick smoke run on the first rows of each split
        pool_rows, val_rows, test_rows = pool_rows[:args.limit], val_rows[:args.limit // 4], test_rows[:args.limit // 2]
        facts = {k: [i for i in v if i < args.limit] if isinstance(v, list) else v for k, v in facts.items()}
    pool_file = write_jsonl(pool_rows, work / "pool.jsonl")
    val_file = write_jsonl(val_rows, work / "validation.jsonl")
    test_file = write_jsonl(test_rows, work / "test.jsonl")
    pool = load([pool_file]).examples
    test = load([test_file]).examples
    noisy = set(facts.get("flipped", [])) | set(facts.get("confirmed_errors", []))
    ev = Evaluator(pool, test, noisy)
    views = [v for v in WANTED_VIEWS if v in registered()]
    missing = [v for v in WANTED_VIEWS if v not in registered()]
    res: dict = {"dataset": name, "pool": len(pool), "validation": len(val_rows), "test": len(test),
                 "views": views, "views_missing": missing, "noise_tracked": len(noisy), "methods": {}}
    print(f"[{name}] pool {len(pool)}, validation {len(val_rows)}, test {len(test)}; views {views}"
          + (f"; not in this build: {missing}" if missing else ""), flush=True)
    m = res["methods"]
    m["whole pool"] = {"all": ev([ex.id for ex in pool])}
    kept = cleanlab_filter(pool, args.seed)
    m["cleanlab filter"] = {"all": ev(kept)}
    print(f"[{name}] whole {m['whole pool']['all']}  cleanlab {m['cleanlab filter']['all']}", flush=True)
    ids_sorted = sorted(ex.id for ex in pool)
    for frac in args.fractions:
        key = f"{int(frac * 100)}%"
        n = int(round(frac * len(pool)))
        rnd = [ev([ids_sorted[i] for i in np.random.default_rng(s).choice(len(pool), n, replace=False)])
               for s in range(args.seed + 1, args.seed + 4)]
        m.setdefault("random (3 seeds)", {})[key] = {
            "size": n, "accuracy": round(float(np.mean([r["accuracy"] for r in rnd])), 4),
            "accuracy_sd": round(float(np.std([r["accuracy"] for r in rnd])), 4),
            "macro_f1": round(float(np.mean([r["macro_f1"] for r in rnd])), 4), "runs": rnd,
            **({"noisy_share": round(float(np.mean([r["noisy_share"] for r in rnd])), 4)} if noisy else {})}
        cfg = build_config({
            "seed": args.seed, "embedding": {"model": "static-minilm"}, "views": {"use": views},
            "select": {"fraction": frac, "strategy": args.strategy, "quota_by": "label"},
            "evaluate": {"proxy": "classifier"},
            "tune": {"rounds": args.rounds, "trials": args.trials, "sweep": [0.5, 0.75, 1.0], "holdout": 0.3,
                     "random_seeds": 3},
        })
        t = time.perf_counter()
        result = run_pipeline([pool_file], work / "run", cfg, target=val_file, validation=val_file, force=True)
        tune = json.loads((work / "run" / "tune.json").read_text())
        (work / f"tune-{key[:-1]}pct.json").write_text(json.dumps(tune, indent=1))  # the next run replaces run/
        m.setdefault(f"ours tuned ({args.strategy})", {})[key] = {
            **ev(result.selected_ids), "weights": tune["best"]["weights"], "threshold": tune["best"]["threshold"],
            "f_tune": tune["best"]["f"], "f_holdout": tune["best"]["f_holdout"],
            "random_f_holdout": tune["baselines"]["random_mean"]["f_holdout"],
            "seconds_pipeline": round(time.perf_counter() - t, 1)}
        # From the same cached scores: the untuned mix, and each view alone (top-N), no re-scoring.
        from sft_select.pipeline import weight_specs
        from sft_select.selection.strategies import Context

        table = result.table
        ctx = Context.of(pool, "static-minilm")
        base_cfg = cfg.select.model_copy(update={"threshold": None})
        specs = weight_specs(build_config({"views": {"use": views}}), views)
        t_eq, _ = finalize(table, specs, base_cfg, keep="best", weights_policy="normalize", seed=args.seed, ctx=ctx)
        m.setdefault(f"ours untuned ({args.strategy}, equal weights)", {})[key] = ev(t_eq.loc[t_eq["selected"], "id"])
        top_cfg = base_cfg.model_copy(update={"strategy": "top"})
        for v in views:
            one = [replace(s, weight=float(s.name == v)) for s in specs]
            t_v, _ = finalize(table, one, top_cfg, keep="best", weights_policy="normalize", seed=args.seed, ctx=ctx)
            m.setdefault(f"top-N by {v}", {})[key] = ev(t_v.loc[t_v["selected"], "id"])
        print(f"[{name}] {key}: random {m['random (3 seeds)'][key]['accuracy']}  "
              f"ours {m[f'ours tuned ({args.strategy})'][key]['accuracy']}  "
              + "  ".join(f"{v} {m[f'top-N by {v}'][key]['accuracy']}" for v in views), flush=True)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def markdown(results: list[dict], fractions: list[float]) -> str:
    keys = [f"{int(f * 100)}%" for f in fractions]
    lines = []
    for res in results:
        noisy = res["noise_tracked"] > 0
        lines.append(f"\n**{res['dataset']}** — pool {res['pool']}, validation {res['validation']}, "
                     f"test {res['test']}; views: {', '.join(res['views'])}; {res['seconds']} s\n")
        head = "| method | " + " | ".join(f"{k}: size | {k}: test acc" + (f" | {k}: noisy in S" if noisy else "")
                                          for k in keys) + " |"
        lines.append(head)
        lines.append("|" + "---|" * (1 + len(keys) * (3 if noisy else 2)))
        for method, by in res["methods"].items():
            cells = []
            for k in keys:
                r = by.get(k) or by.get("all")
                acc = f"{r['accuracy']:.4f}" + (f" ± {r['accuracy_sd']:.4f}" if "accuracy_sd" in r else "")
                cells += [str(r["size"]), acc] + ([f"{r.get('noisy_share', 0):.3f}"] if noisy else [])
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="20news,20news-noisy,imdb")
    ap.add_argument("--fractions", default="0.2,0.5")
    ap.add_argument("--strategy", default="quota", help="selection strategy for ours (quota, top, greedy, facility)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--out", default="case_study.json")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: only the first rows of each split")
    args = ap.parse_args()
    args.fractions = [float(x) for x in args.fractions.split(",")]
    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA); nothing to do")
        return
    args.work = args.work or tempfile.mkdtemp(prefix="sft-case-")
    results = [run_dataset(name.strip(), args, data) for name in args.datasets.split(",") if name.strip()]
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results, args.fractions))


if __name__ == "__main__":
    main()
