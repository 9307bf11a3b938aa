"""Does a proxy's f(S) rank subsets the way the final model's test accuracy does?

The closed loop keeps the S with the best proxy f(S) on the validation file, so a proxy is only as good as
its ranking of candidate subsets agrees with the model the user will train. This script builds a fixed
family of 20% subsets of one case-study pool (random draws, the coverage strategy over its settings and
two weightings, active over its skip guard, quota, top-N by each view), measures every proxy's f on the
validation split and every eval model's accuracy on the test split, and reports Spearman's rank
correlation between them, plus what each proxy's argmax would have given on test.

Pools, splits, views and eval models (tfidf C=1, mlp alpha 0.01, as the case study's runs 4–7) are
`case_study.prepare`'s.

    SFT_SELECT_DATA=/work/shared/data python bench/proxy_agreement.py --dataset 20news-noisy \
        --proxies logreg,mlp,knn --work /tmp/seeds/seed-0 --out /tmp/agree-20news-noisy.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import case_study  # noqa: E402  (also puts src/ on the path)
from sft_select.evaluate.proxy_classifier import EmbeddingClassifierProxy  # noqa: E402


def subsets(table, pool, views, frac: float, seed: int) -> dict[str, list[str]]:
    """The candidate family: labelled by how each subset was drawn."""
    from sft_select.config.schema import build_config
    from sft_select.pipelines.in_memory import weight_specs
    from sft_select.selection.finalize import finalize
    from sft_select.selection.strategies import Context

    ctx = Context.of(pool, "static-minilm")
    specs = weight_specs(build_config({"views": {"use": views}}), views)

    def pick(weights: dict[str, float], **select) -> list[str]:
        sp = [replace(s, weight=float(weights.get(s.name, 0.0))) for s in specs]
        cfg = build_config({"select": {"fraction": frac, "quota_by": "label", **select}}).select
        t, _ = finalize(table, sp, cfg, keep="best", weights_policy="normalize", seed=seed, ctx=ctx)
        return t.loc[t["selected"].astype(bool), "id"].tolist()

    equal = {v: 1.0 for v in views}
    label = {"quality_label": 1.0}
    out: dict[str, list[str]] = {}
    ids = sorted(ex.id for ex in pool)
    n = int(round(frac * len(pool)))
    for s in range(5):
        out[f"random {s}"] = [ids[i] for i in np.random.default_rng(seed + 100 + s).choice(len(ids), n, replace=False)]
    for wname, w in (("equal", equal), ("quality_label", label)):
        for trim in (0.0, 0.15, 0.3):
            for mix in (0.0, 0.1, 1.0):
                out[f"coverage {wname} trim {trim} mix {mix}"] = pick(w, strategy="coverage", group_trim=trim,
                                                                       cover_mix=mix)
        out[f"coverage {wname} trim 0.3 hardest first"] = pick(w, strategy="coverage", group_trim=0.3,
                                                                group_order="difficulty_margin")
    for skip in (0.0, 0.5, 1.0):
        out[f"active skip {skip}"] = pick(equal, strategy="active", active_skip=skip)
    out["quota equal weights"] = pick(equal, strategy="quota")
    for v in views:
        out[f"top-N {v}"] = pick({v: 1.0}, strategy="top")
    return out


class KNNProxy(EmbeddingClassifierProxy):
    """k nearest neighbours (cosine) on the embeddings: S's own labels answer, flips included, with no fit.
    Measured here and left out of the library: it ranks subsets worse than logreg even for the mlp eval
    model (docs/benchmarks.md, "Proxy agreement")."""

    name, embedder, metric = "knn", "static-minilm", "accuracy"

    def __init__(self, k: int):
        self.k = k

    def _fit(self, X, y, seed):
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=min(self.k, len(y)), metric="cosine", algorithm="brute").fit(X, y)


def build_proxies(specs: list[str], pool) -> dict:
    """`logreg`, `mlp`, `mlp:mlp_epochs=50/alpha=0.001` (evaluate.classifier fields), or `knn:K`."""
    from sft_select.config.schema import build_config
    from sft_select.evaluate.proxy import build_proxy

    out = {}
    for spec in specs:
        model, _, rest = spec.partition(":")
        if model == "knn":
            out[spec] = KNNProxy(int(rest or 5))
            continue
        fields = dict(kv.split("=") for kv in rest.split("/") if kv)
        classifier = {"model": model, **{k: float(v) if "." in v or "e" in v else int(v) for k, v in fields.items()}}
        cfg = build_config({"evaluate": {"proxy": "classifier", "classifier": classifier}}).evaluate
        out[spec] = build_proxy(cfg, pool, embedder="static-minilm")
    return out


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="20news-noisy")
    ap.add_argument("--proxies", default="logreg,mlp",
                    help="comma-separated: logreg, mlp, mlp:mlp_epochs=50/alpha=0.001 (evaluate.classifier fields), "
                    "knn:K (bench-local k nearest neighbours)")
    ap.add_argument("--reuse", default=None, help="an earlier output of this script (same dataset, seed and "
                    "eval models): its subsets' eval-model figures are taken instead of training them again")
    ap.add_argument("--eval-models", default="static,tfidf,mlp")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=0, help="smoke test: only the first rows of each split")
    args = ap.parse_args()
    data = case_study.shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA); nothing to do")
        return
    from sft_select.tune.loop import split_validation

    args.per_subset_C, args.tfidf_C, args.mlp_alpha = False, 1.0, 0.01
    args.eval_models = args.eval_models.split(",")
    p = case_study.prepare(args.dataset, args, data)
    pool, table, views, models, ev = p.pool, p.table, p.views, p.models, p.evaluator
    # The loop's own tune part (holdout 0.3, the run's seed), so f here is the f the loop would have seen.
    tune_part, _ = split_validation(p.val, 0.3, args.seed)
    by_id = {ex.id: ex for ex in pool}
    proxies = build_proxies(args.proxies.split(","), pool)
    earlier = {}
    if args.reuse:
        old = json.loads(Path(args.reuse).read_text())
        if (old["dataset"], old["seed"]) != (args.dataset, args.seed):
            raise SystemExit(f"--reuse: {args.reuse} is {old['dataset']} seed {old['seed']}")
        keep = {"size", "noisy_share", *(m.name for m in models), *(f"{m.name}_train" for m in models)}
        earlier = {r["subset"]: {k: v for k, v in r.items() if k in keep} for r in old["rows"]}

    rows = []
    for label, ids in subsets(table, pool, views, args.fraction, args.seed).items():
        again = earlier.get(label)
        if again is not None and again["size"] != len(ids):
            raise SystemExit(f"--reuse: subset {label!r} has {len(ids)} rows here, {again['size']} there")
        r = {"subset": label, **(again or ev(ids))}
        train = [by_id[i] for i in ids]
        for name, proxy in proxies.items():
            t = time.perf_counter()
            r[f"f_{name}"] = round(proxy.evaluate(train, tune_part, seed=args.seed).value, 4)
            r[f"s_{name}"] = round(time.perf_counter() - t, 2)
        rows.append(r)
        print(json.dumps(r), flush=True)

    summary = {}
    for name in proxies:
        f = [r[f"f_{name}"] for r in rows]
        best = rows[int(np.argmax(f))]
        summary[name] = {"seconds_per_fit": round(float(np.mean([r[f"s_{name}"] for r in rows])), 2),
                         "argmax": best["subset"],
                         **{f"spearman_{m.name}": round(spearman(f, [r[m.name] for r in rows]), 3) for m in models},
                         **{f"argmax_test_{m.name}": best[m.name] for m in models}}
    best_possible = {m.name: max(r[m.name] for r in rows) for m in models}
    out = {"dataset": args.dataset, "seed": args.seed, "subsets": len(rows), "rows": rows, "proxies": summary,
           "best_in_family": best_possible}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("| proxy | s per fit | " + " | ".join(f"Spearman vs {m.name}" for m in models) + " | argmax subset | "
          + " | ".join(f"its {m.name}" for m in models) + " |")
    print("|---" * (3 + 2 * len(models)) + "|")
    for name, s in summary.items():
        print(f"| {name} | {s['seconds_per_fit']} | " + " | ".join(f"{s[f'spearman_{m.name}']:.3f}" for m in models)
              + f" | {s['argmax']} | " + " | ".join(f"{s[f'argmax_test_{m.name}']:.4f}" for m in models) + " |")
    print("best in family: " + ", ".join(f"{k} {v:.4f}" for k, v in best_possible.items()))


if __name__ == "__main__":
    main()
