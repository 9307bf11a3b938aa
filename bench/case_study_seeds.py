"""The selection case study repeated over seeds: do its verdicts hold beyond the one split they came from?

Every earlier case-study figure (docs/benchmarks.md, runs 1–7) came from seed 0: one validation/test split,
one draw of the 20% flipped labels on 20news-noisy, one imdb pool, one start sample. A verdict of "level
with the whole pool" or "+1.5 points" can sit inside the spread between such draws. This script runs
`case_study.py`'s whole design (every option of that script is accepted and passed on) once per seed in
`--seeds` — each seed redraws the splits, the flips, the random baselines and the selection seed, and the
pool is scored again — and reports, per method and eval model, the mean test accuracy over seeds and the
paired difference to the whole pool and to random 20% of the same seed (mean, sd over seeds, and in how
many seeds the method was at least as accurate as the whole pool).

    SFT_SELECT_DATA=/work/shared/data python bench/case_study_seeds.py --seeds 0,1,2 \
        --datasets 20news-noisy,imdb --fractions 0.2 --choose one_se --strategies coverage,active \
        --tune-strategies active --trims 0,0.15,0.3 --mixes 0,0.1,1 --orders cover,difficulty_margin \
        --eval-models static,tfidf,mlp --tfidf-C 1 --mlp-alpha 0.01 --no-top-n --work /tmp/seeds \
        --out /tmp/seeds/all.json

Each seed's result per dataset goes to --work/seed-<k>-<dataset>.json as it finishes. A killed run keeps
what it completed and skips it when started again with the same --work, so give a fresh --work whenever
an option changes. The aggregate goes to --out and is printed as markdown.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import case_study  # noqa: E402

BASELINES = ("whole pool", "random (3 seeds)")


def accuracy(by: dict, key: str, model: str) -> float | None:
    r = by.get(key) or by.get("all")
    return None if r is None or model not in r else float(r[model])


def aggregate(per_seed: dict[int, dict[str, dict]], keys: list[str]) -> list[dict]:
    """One row per dataset × fraction × method × eval model: mean accuracy and paired differences over seeds."""
    rows = []
    datasets = {name: res for by_name in per_seed.values() for name, res in by_name.items()}
    for dataset, res0 in datasets.items():
        models = list(res0["eval_models"])
        for key in keys:
            for method in res0["methods"]:
                for model in models:
                    acc, vs_whole, vs_random, chosen = [], [], [], []
                    for by_name in per_seed.values():
                        if dataset not in by_name:
                            continue
                        m = by_name[dataset]["methods"]
                        a = accuracy(m.get(method, {}), key, model)
                        if a is None:
                            continue
                        acc.append(a)
                        chosen.append((m[method].get(key) or {}).get("strategy"))
                        vs_whole.append(a - accuracy(m["whole pool"], key, model))
                        vs_random.append(a - accuracy(m["random (3 seeds)"], key, model))
                    if not acc:
                        continue
                    n_test = res0["test"]
                    rows.append({
                        "dataset": res0["dataset"], "fraction": key, "method": method, "model": model,
                        "seeds": len(acc), "accuracy": acc, "strategy_chosen": chosen, "mean": float(np.mean(acc)),
                        # One test split's binomial SE at this accuracy: the noise inside a single seed's figure.
                        "test_se": float(np.sqrt(np.mean(acc) * (1 - np.mean(acc)) / n_test)),
                        "vs_whole": vs_whole, "vs_whole_mean": float(np.mean(vs_whole)),
                        "vs_whole_sd": float(np.std(vs_whole, ddof=1)) if len(acc) > 1 else 0.0,
                        "at_least_whole": int(sum(v >= 0 for v in vs_whole)),
                        "vs_random_mean": float(np.mean(vs_random)),
                        "vs_random_sd": float(np.std(vs_random, ddof=1)) if len(acc) > 1 else 0.0,
                    })
    return rows


def markdown(rows: list[dict]) -> str:
    out = ["| dataset | fraction | method | eval model | seeds | mean accuracy | vs whole pool: mean ± sd (seeds ≥ 0) "
           "| vs random: mean ± sd |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["method"] == "whole pool":
            vs_whole = "—"
        else:
            vs_whole = (f"{100 * r['vs_whole_mean']:+.2f} ± {100 * r['vs_whole_sd']:.2f} "
                        f"({r['at_least_whole']}/{r['seeds']})")
        vs_random = "—" if r["method"] in BASELINES else \
            f"{100 * r['vs_random_mean']:+.2f} ± {100 * r['vs_random_sd']:.2f}"
        chose = [c for c in r.get("strategy_chosen", []) if c]
        method = r["method"] + (f" (chose {', '.join(chose)})" if chose else "")
        out.append(f"| {r['dataset']} | {r['fraction']} | {method} | {r['model']} | {r['seeds']} | "
                   f"{r['mean']:.4f} | {vs_whole} | {vs_random} |")
    return "\n".join(out)


def main() -> None:
    argv = sys.argv[1:]
    seeds = [0]
    if "--seeds" in argv:
        i = argv.index("--seeds")
        seeds = [int(s) for s in argv[i + 1].split(",") if s]
        del argv[i:i + 2]
    args = case_study.parse_args(argv)
    data = case_study.shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA); nothing to do")
        return
    work = Path(args.work)
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    per_seed: dict[int, dict[str, dict]] = {}
    for seed in seeds:
        per_seed[seed] = {}
        for name in names:
            done = work / f"seed-{seed}-{name}.json"
            if done.exists():
                print(f"seed {seed}, {name}: taken from {done}", flush=True)
            else:
                args.seed, args.work = seed, str(work / f"seed-{seed}")
                tmp = done.with_suffix(".part")
                tmp.write_text(json.dumps(case_study.run_dataset(name, args, data), indent=1) + "\n")
                tmp.replace(done)
            per_seed[seed][name] = json.loads(done.read_text())
    keys = [f"{int(f * 100)}%" for f in args.fractions]
    rows = aggregate(per_seed, keys)
    Path(args.out).write_text(json.dumps({"seeds": seeds, "rows": rows}, indent=1) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
