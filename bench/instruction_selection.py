"""Instruction-data selection benchmark: the plain default command against external ground truth (not a test).

What runs is the real CLI, as a user types it: `sft-select run pool.jsonl --fraction 0.2 --out DIR --force`,
and the same with `--validation val.jsonl` (the tune loop with the default proxy). Nothing else is set, so
the figures measure the current defaults.

  alpaca_eval   pool: a seeded sample of --pool AlpacaEval answers judged by weighted_alpaca_eval_gpt4_turbo
                (Alpaca JSONL {instruction, input: "", output}), drawn from 80% of the instructions; val.jsonl:
                the reference (GPT-4-Turbo) answers to the other 20% (bench/instruction_proxies.py's split).
                Per S: the judge's mean preference - 1 (= P(better than the reference)) and the share of the
                pool's distinct instructions S covers; against random 20% subsets (3 seeds, mean ± sd) and
                the whole pool; repeated over --seeds (the pool draw and the split).
  tiers         self_instruct_model_tiers: 252 instructions x 8 model responses (tier 0 = base davinci ...
                7 = text-davinci-003): S's mean tier and share of the top two tiers, against random.
  dolly         dolly_3k_categories: S's category mix against the pool's (max absolute share difference;
                the pool's smallest category: its share in S / its share in the pool), against random.

Usage: python bench/instruction_selection.py [--seeds 0,1,2] [--pool 10000] [--parts alpaca,tiers,dolly]
           [--work /tmp/instr-bench] [--out /tmp/instruction_selection.json]
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from instruction_proxies import load_judged, split  # noqa: E402
from sft_select.core.paths import shared_data  # noqa: E402

FRACTION = 0.2
RANDOM_SEEDS = (0, 1, 2)
TIERS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]


def cli() -> str:
    exe = ROOT / ".venv" / "bin" / "sft-select"
    return str(exe) if exe.exists() else "sft-select"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def select(pool: Path, out: Path, validation: Path | None = None) -> dict:
    """Run the CLI; the selected input rows (0-based positions in pool.jsonl), seconds and the command."""
    import pandas as pd

    cmd = [cli(), "run", str(pool), "--fraction", str(FRACTION), "--out", str(out), "--force"]
    if validation is not None:
        cmd += ["--validation", str(validation)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    table = pd.read_parquet(out / "scores.parquet", columns=["row", "selected"])
    rows = np.sort(table.loc[table["selected"].astype(bool), "row"].to_numpy())
    res = {"rows": rows, "seconds": round(seconds, 1), "command": " ".join(cmd).replace(cli(), "sft-select")}
    tune = out / "tune.json"
    if validation is not None and tune.exists():
        t = json.loads(tune.read_text())
        b = t.get("baselines", {})
        res["tune"] = {"proxy": t.get("proxy"), "beats_random": t.get("beats_random"),
                       "best_f": (t.get("best") or {}).get("f"),
                       "best_f_holdout": (t.get("best") or {}).get("f_holdout"),
                       "initial_f_holdout": (t.get("initial") or {}).get("f_holdout"),
                       "random_mean": b.get("random_mean"),
                       "whole_pool_f_holdout": (b.get("whole_pool") or {}).get("f_holdout"),
                       "evaluations": t.get("evaluations"), "strategy": t.get("strategy")}
    return res


def mean_sd(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": round(float(v.mean()), 4), "sd": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4)}


def random_rows(n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=int(round(FRACTION * n)), replace=False))


# -- alpaca_eval -----------------------------------------------------------------------------------------------
def alpaca(data: Path, work: Path, seeds: list[int], pool_size: int) -> dict:
    j = load_judged(data)
    out: dict = {"runs": []}
    for seed in seeds:
        sp = split(j, pool_size=pool_size, seed=seed, val_rows="reference")
        folder = work / f"alpaca_s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / "pool.jsonl", [{"instruction": j.instruction[i], "input": "", "output": j.output[i]}
                                            for i in sp.pool])
        write_jsonl(folder / "val.jsonl", [{"instruction": s, "input": "", "output": o}
                                           for s, o in zip(sp.val_instructions, sp.val_outputs)])
        quality = j.quality[sp.pool]
        inst = np.asarray([j.instruction[i] for i in sp.pool], dtype=object)
        n_inst = len(np.unique(inst))

        # this seed's pool, bound as defaults: the closure must not see a later iteration's values
        def measure(rows: np.ndarray, quality=quality, inst=inst, n_inst=n_inst) -> dict:
            return {"size": int(len(rows)), "judge_quality": round(float(quality[rows].mean()), 4),
                    "instruction_share": round(len(np.unique(inst[rows])) / n_inst, 4)}

        rnd = [measure(random_rows(len(quality), s)) for s in RANDOM_SEEDS]
        run: dict = {"seed": seed, "pool": len(quality), "pool_instructions": n_inst,
                     "validation_rows": len(sp.val_outputs),
                     "whole_pool": measure(np.arange(len(quality))),
                     "random": {k: mean_sd([r[k] for r in rnd]) for k in ("judge_quality", "instruction_share")}}
        for name, val in (("default", None), ("default_validation", folder / "val.jsonl")):
            sel = select(folder / "pool.jsonl", folder / f"run_{name}", val)
            run[name] = {**measure(sel["rows"]), "seconds": sel["seconds"], "command": sel["command"],
                         **({"tune": sel["tune"]} if "tune" in sel else {})}
            print(f"alpaca seed {seed} {name}: {json.dumps({k: v for k, v in run[name].items() if k != 'tune'})}",
                  flush=True)
        out["runs"].append(run)
    for name in ("default", "default_validation", "whole_pool"):
        out[f"{name}_over_seeds"] = {k: mean_sd([r[name][k] for r in out["runs"]])
                                     for k in ("judge_quality", "instruction_share")}
    out["random_over_seeds"] = {k: mean_sd([r["random"][k]["mean"] for r in out["runs"]])
                                for k in ("judge_quality", "instruction_share")}
    return out


# -- self-instruct model tiers ----------------------------------------------------------------------------------
def tiers(data: Path, work: Path) -> dict:
    folder = data / "self_instruct_model_tiers" / "predictions"
    rows, tier = [], []
    for t, name in enumerate(TIERS):
        with gzip.open(folder / f"{name}_predictions.jsonl.gz", "rt") as fh:
            for line in fh:
                r = json.loads(line)
                rows.append({"instruction": r["instruction"].strip(), "input": (r.get("input") or "").strip(),
                             "output": (r.get("response") or "").strip()})
                tier.append(t)
    tier_a = np.asarray(tier, dtype=float)
    top2 = tier_a >= len(TIERS) - 2
    w = work / "tiers"
    w.mkdir(parents=True, exist_ok=True)
    write_jsonl(w / "pool.jsonl", rows)
    sel = select(w / "pool.jsonl", w / "run_default")

    def measure(r: np.ndarray) -> dict:
        return {"size": int(len(r)), "mean_tier": round(float(tier_a[r].mean()), 3),
                "top2_share": round(float(top2[r].mean()), 3),
                "base_davinci_share": round(float((tier_a[r] == 0).mean()), 3)}

    rnd = [measure(random_rows(len(rows), s)) for s in RANDOM_SEEDS]
    res = {"pool": len(rows), "whole_pool": measure(np.arange(len(rows))),
           "default": {**measure(sel["rows"]), "seconds": sel["seconds"], "command": sel["command"],
                       "tier_counts": np.bincount(tier_a[sel["rows"]].astype(int), minlength=len(TIERS)).tolist()},
           "random": {k: mean_sd([r[k] for r in rnd]) for k in ("mean_tier", "top2_share", "base_davinci_share")}}
    print(f"tiers: {json.dumps(res['default'])}", flush=True)
    return res


# -- dolly categories -------------------------------------------------------------------------------------------
def dolly(data: Path, work: Path) -> dict:
    with gzip.open(data / "dolly_3k_categories" / "dolly_3k.json.gz", "rt") as fh:
        items = json.load(fh)
    cats = np.asarray([it["category"] for it in items], dtype=object)
    w = work / "dolly"
    w.mkdir(parents=True, exist_ok=True)
    write_jsonl(w / "pool.jsonl", [{"instruction": it["instruction"], "input": it.get("input") or "",
                                    "output": it["output"]} for it in items])
    sel = select(w / "pool.jsonl", w / "run_default")
    names, counts = np.unique(cats, return_counts=True)
    pool_share = counts / counts.sum()
    smallest = names[np.argmin(counts)]

    def measure(r: np.ndarray) -> dict:
        share = np.asarray([(cats[r] == c).mean() for c in names])
        return {"size": int(len(r)), "max_abs_share_diff": round(float(np.max(np.abs(share - pool_share))), 4),
                "smallest_category_ratio": round(float(share[names == smallest][0]
                                                       / pool_share[names == smallest][0]), 3),
                "shares": {c: round(float(s), 4) for c, s in zip(names, share)}}

    rnd = [measure(random_rows(len(items), s)) for s in RANDOM_SEEDS]
    res = {"pool": len(items), "smallest_category": smallest,
           "pool_shares": {c: round(float(s), 4) for c, s in zip(names, pool_share)},
           "default": {**measure(sel["rows"]), "seconds": sel["seconds"], "command": sel["command"]},
           "random": {k: mean_sd([r[k] for r in rnd]) for k in ("max_abs_share_diff", "smallest_category_ratio")}}
    print(f"dolly: {json.dumps(res['default'])}", flush=True)
    return res


def markdown(res: dict) -> str:
    lines = []
    a = res.get("alpaca")
    if a:
        lines += ["### alpaca_eval (judge: P(answer better than GPT-4-Turbo's); instruction share of the pool's)", "",
                  "| seed | pool | S = default | S = default + --validation | random 20% (3 seeds) | whole pool |",
                  "|---|---|---|---|---|---|"]

        def cell(d: dict) -> str:
            return f"q {d['judge_quality']:.4f}, instr {d['instruction_share']:.3f}"

        for r in a["runs"]:
            rq, ri = r["random"]["judge_quality"], r["random"]["instruction_share"]
            lines.append(f"| {r['seed']} | {r['pool']} | {cell(r['default'])} | {cell(r['default_validation'])} | "
                         f"q {rq['mean']:.4f} ± {rq['sd']:.4f}, instr {ri['mean']:.3f} ± {ri['sd']:.3f} | "
                         f"{cell(r['whole_pool'])} |")
        m = {k: a[f"{k}_over_seeds"] for k in ("default", "default_validation", "random", "whole_pool")}
        lines.append("| mean ± sd over seeds | | " + " | ".join(
            f"q {m[k]['judge_quality']['mean']:.4f} ± {m[k]['judge_quality']['sd']:.4f}, instr "
            f"{m[k]['instruction_share']['mean']:.3f} ± {m[k]['instruction_share']['sd']:.3f}"
            for k in ("default", "default_validation", "random", "whole_pool")) + " |")
        lines.append("")
    t = res.get("tiers")
    if t:
        lines += ["### self_instruct model tiers (0 = base davinci … 7 = text-davinci-003)", "",
                  "| | mean tier | top-2 tiers share | base davinci share |", "|---|---|---|---|",
                  f"| default S | {t['default']['mean_tier']:.3f} | {t['default']['top2_share']:.3f} | "
                  f"{t['default']['base_davinci_share']:.3f} |",
                  f"| random 20% (3 seeds) | {t['random']['mean_tier']['mean']:.3f} ± "
                  f"{t['random']['mean_tier']['sd']:.3f} | "
                  f"{t['random']['top2_share']['mean']:.3f} ± {t['random']['top2_share']['sd']:.3f} | "
                  f"{t['random']['base_davinci_share']['mean']:.3f} ± {t['random']['base_davinci_share']['sd']:.3f} |",
                  f"| whole pool | {t['whole_pool']['mean_tier']:.3f} | {t['whole_pool']['top2_share']:.3f} | "
                  f"{t['whole_pool']['base_davinci_share']:.3f} |", ""]
    d = res.get("dolly")
    if d:
        lines += [f"### dolly_3k categories (smallest: {d['smallest_category']})", "",
                  "| | max abs share diff vs pool | smallest category share ratio |", "|---|---|---|",
                  f"| default S | {d['default']['max_abs_share_diff']:.4f} | "
                  f"{d['default']['smallest_category_ratio']:.3f} |",
                  f"| random 20% (3 seeds) | {d['random']['max_abs_share_diff']['mean']:.4f} ± "
                  f"{d['random']['max_abs_share_diff']['sd']:.4f} | "
                  f"{d['random']['smallest_category_ratio']['mean']:.3f} ± "
                  f"{d['random']['smallest_category_ratio']['sd']:.3f} |", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--pool", type=int, default=10_000)
    ap.add_argument("--parts", default="alpaca,tiers,dolly")
    ap.add_argument("--work", default="/tmp/instr-bench", help="scratch folder (pools and run folders)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--out", default="/tmp/instruction_selection.json")
    a = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "alpaca_eval_judgments").is_dir():
        print("shared data not found: nothing to measure")
        return
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    start = time.perf_counter()
    res: dict = {"command": "python bench/instruction_selection.py " + " ".join(sys.argv[1:]), "fraction": FRACTION}
    if "alpaca" in parts:
        res["alpaca"] = alpaca(data, work, [int(s) for s in a.seeds.split(",")], a.pool)
    if "tiers" in parts and (data / "self_instruct_model_tiers").is_dir():
        res["tiers"] = tiers(data, work)
    if "dolly" in parts and (data / "dolly_3k_categories").is_dir():
        res["dolly"] = dolly(data, work)
    res["seconds"] = round(time.perf_counter() - start, 1)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(markdown(res))
    print(f"\nsaved {a.out}; {res['seconds']} s")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
