"""What the LM views predict: difficulty_ifd, difficulty_loss and quality_fluency against an LLM judge (not a test).

Builds a seeded sample of AlpacaEval answers judged by weighted_alpaca_eval_gpt4_turbo (GPT-4-Turbo against its
own answer; quality = preference - 1 = P(the answer is better than the reference)): `--n` distinct instructions,
one answer each, the answering models dealt round-robin from a shuffled list (57 of the 58 models appear at
300, ~5 answers each). Optionally a Self-Instruct model-tier sample (`--tier-instructions` instructions x the 8
GPT-3 tiers). Each sample goes through its own
`sft-select score FILE --views difficulty_ifd,difficulty_loss,quality_fluency` (one LM pass for the three views:
they share `sft_select.models.lm.stats`; the two runs go side by side), and the table is read from scores.parquet.

Every view is taken in the direction it declares (its normalized column `<view>`, higher = preferred by the
view; difficulty_ifd's IFD >= 1 rows are NaN raw and get the bottom of the order, as when combining).
Figures per view, with "longer wins" (words) and "shorter wins" as baselines:

  auroc         AUROC of "better than the reference" (preference > 1.5)
  rho_quality   Spearman with the judge's quality (preference - 1)
  rho_words     Spearman with the answer's length in words
  auroc_len_q   AUROC within each quartile of answer length (words), and their mean
  tiers         Self-Instruct: Spearman of the mean score by tier vs tier rank (8 tiers), and over all rows;
                the same over the 7 tuned tiers (base davinci's answers mostly fail the preprocess filters)

Usage:
  python bench/lm_views_vs_judge.py --work /tmp/lmv [--n 300] [--tier-instructions 30] [--max-tokens 64]
  (the defaults: 33 min on 2 shared CPU cores, 2026-12-07; docs/selection.md "What the LM views predict")
  python bench/lm_views_vs_judge.py --work /tmp/lmv --analyze-only    # re-read finished runs
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent. Never writes into
the repository: samples and run directories go under --work.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402

VIEWS = ["difficulty_ifd", "difficulty_loss", "quality_fluency"]
ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
REFERENCE_MODEL = "gpt4_1106_preview"
TIERS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]


def alpaca_sample(data: Path, n: int, seed: int) -> list[dict]:
    """`n` distinct instructions, one judged answer each; models dealt round-robin from a shuffled list."""
    folder = data / "alpaca_eval_judgments"
    with gzip.open(folder / "outputs.jsonl.gz", "rt") as fh:
        outputs = {o["id"]: o for o in map(json.loads, fh)}
    by_instr: dict[str, dict[str, dict]] = defaultdict(dict)  # instruction -> model -> judgment
    with gzip.open(folder / "judgments.jsonl.gz", "rt") as fh:
        for j in map(json.loads, fh):
            pref = j["preference"]
            if j["annotator"] != ANNOTATOR or j["model"] == REFERENCE_MODEL or pref is None or not 1 <= pref <= 2:
                continue
            out = outputs[j["output_id"]]
            if out["output"].strip():
                by_instr[out["instruction"]][j["model"]] = {**j, "output": out["output"], "dataset": out["dataset"]}
    rng = random.Random(seed)
    instructions = sorted(by_instr)
    rng.shuffle(instructions)
    models = sorted({m for per in by_instr.values() for m in per})
    rng.shuffle(models)
    rows, turn = [], 0
    for instr in instructions[:n]:
        have = by_instr[instr]
        for k in range(len(models)):  # the next model in the deal that answered this instruction
            model = models[(turn + k) % len(models)]
            if model in have:
                turn += k + 1
                break
        j = have[model]
        rows.append({"instruction": instr, "input": "", "output": j["output"], "model": model,
                     "preference": j["preference"], "subset": j["dataset"]})
    return rows


def tier_sample(data: Path, n_instructions: int, seed: int) -> list[dict]:
    folder = data / "self_instruct_model_tiers" / "predictions"
    per_tier = {}
    for t in TIERS:
        with gzip.open(folder / f"{t}_predictions.jsonl.gz", "rt") as fh:
            per_tier[t] = [json.loads(line) for line in fh]
    pick = sorted(random.Random(seed).sample(range(len(per_tier[TIERS[0]])), n_instructions))
    return [{"instruction": per_tier[t][i]["instruction"].strip(), "input": per_tier[t][i].get("input", "").strip(),
             "output": per_tier[t][i]["response"].strip(), "tier": t, "tier_rank": r, "item": i}
            for r, t in enumerate(TIERS) for i in pick]


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def score(sample: Path, out: Path, max_tokens: int) -> subprocess.Popen:
    """Starts `sft-select score` with the three LM views (one shared LM pass) and returns the process."""
    cfg = out.parent / f"{out.name}.yaml"
    params = {"max_tokens": max_tokens, "device": "cpu"}
    lines = ["views:", "  settings:"] + [f"    {v}: {{params: {json.dumps(params)}}}" for v in VIEWS]
    cfg.write_text("\n".join(lines + ["report:", "  enabled: false", ""]))
    cmd = [str(Path(sys.executable).parent / "sft-select"), "score", str(sample), "--views", ",".join(VIEWS),
           "--config", str(cfg), "--out", str(out), "--force"]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.Popen(cmd)


def view_scores(run: Path, n_rows: int) -> dict[str, np.ndarray]:
    """Per input row: each view's normalized score (higher = preferred by the view; a NaN raw value, an
    IFD >= 1, counts 0 as when combining), the raw values, and `scored` (False: dropped by a preprocess
    filter, e.g. filter_truncated, and never scored)."""
    import pandas as pd

    df = pd.read_parquet(run / "scores.parquet").sort_values("row")
    assert df["row"].tolist() == list(range(n_rows)), "scores.parquet does not hold one row per input line"
    out = {v: np.nan_to_num(df[v].to_numpy(dtype=float), nan=0.0) for v in VIEWS}
    out["scored"] = df["filter_reason"].isna().to_numpy()
    out["raw"] = {v: df[f"{v}_raw"].to_numpy(dtype=float) for v in VIEWS}
    return out


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(s)
    y, s = y[ok], s[ok]
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def rho(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = ~(np.isnan(a) | np.isnan(b))
    return float(spearmanr(a[ok], b[ok]).correlation)


def judge_metrics(s: np.ndarray, quality: np.ndarray, words: np.ndarray) -> dict:
    decided = quality != 0.5
    win = (quality > 0.5).astype(int)
    q = np.quantile(words, [0.25, 0.5, 0.75])
    bucket = np.searchsorted(q, words, side="right")
    per_q = [auroc(win[decided & (bucket == b)], s[decided & (bucket == b)]) for b in range(4)]
    return {"auroc": auroc(win[decided], s[decided]), "rho_quality": rho(s, quality), "rho_words": rho(s, words),
            "auroc_len_q": per_q, "auroc_len_q_mean": float(np.nanmean(per_q))}


def tier_metrics(s: np.ndarray, rank: np.ndarray) -> dict:
    """Over the 8 tiers, and over the 7 tuned ones (base davinci's answers are mostly dropped by the
    preprocess filters, repeated lines and truncation, so its mean rests on a few rows)."""
    means = [float(np.nanmean(s[rank == r])) if (rank == r).any() else float("nan") for r in range(len(TIERS))]
    tuned = rank > 0
    return {"rho_tier_means": rho(np.arange(len(TIERS), dtype=float), np.array(means)),
            "rho_tier_means_tuned": rho(np.arange(1, len(TIERS), dtype=float), np.array(means[1:])),
            "rho_all": rho(s, rank.astype(float)), "rho_all_tuned": rho(s[tuned], rank[tuned].astype(float)),
            "means": means, "rows": np.bincount(rank, minlength=len(TIERS)).tolist()}


def fmt(x: float) -> str:
    return "  nan" if x != x else f"{x:+.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/lm_views_vs_judge"), help="samples and run dirs")
    ap.add_argument("--n", type=int, default=300, help="judged AlpacaEval answers (distinct instructions)")
    ap.add_argument("--tier-instructions", type=int, default=30, help="Self-Instruct instructions x 8 tiers; 0: skip")
    ap.add_argument("--max-tokens", type=int, default=64, help="the LM views' max_tokens (prompt and response each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--analyze-only", action="store_true", help="read the run dirs under --work, score nothing")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "alpaca_eval_judgments").is_dir():
        print("no ../shared/data/alpaca_eval_judgments: skipped")
        return 0

    results: dict = {"n": args.n, "max_tokens": args.max_tokens, "seed": args.seed}
    alp = alpaca_sample(data, args.n, args.seed)
    alp_file, alp_run = args.work / "alpaca_sample.jsonl", args.work / "alpaca_run"
    write_jsonl(alp, alp_file)
    tiers = []
    if args.tier_instructions and (data / "self_instruct_model_tiers").is_dir():
        tiers = tier_sample(data, args.tier_instructions, args.seed)
        tier_file, tier_run = args.work / "tier_sample.jsonl", args.work / "tier_run"
        write_jsonl(tiers, tier_file)
    if not args.analyze_only:  # both runs at once (they share nothing); each reports its wall time
        start = time.perf_counter()
        procs = {"seconds_alpaca": score(alp_file, alp_run, args.max_tokens)}
        if tiers:
            procs["seconds_tiers"] = score(tier_file, tier_run, args.max_tokens)
        while procs:  # poll both, so that each run's own wall time is recorded
            for key, proc in list(procs.items()):
                if proc.poll() is not None:
                    if proc.returncode:
                        raise SystemExit(f"sft-select score failed ({key}): exit {proc.returncode}")
                    results[key] = time.perf_counter() - start
                    del procs[key]
            time.sleep(1)

    vs = view_scores(alp_run, len(alp))
    keep = vs["scored"]  # rows a preprocess filter dropped are left out of every figure, baselines included
    quality = np.array([r["preference"] - 1 for r in alp])[keep]
    words = np.array([len(r["output"].split()) for r in alp], dtype=float)[keep]
    scorers = {v: vs[v][keep] for v in VIEWS}
    scorers["longer_wins"], scorers["shorter_wins"] = words, -words
    if tiers:
        ts = view_scores(tier_run, len(tiers))
        t_keep = ts["scored"]
        t_words = np.array([len(r["output"].split()) for r in tiers], dtype=float)[t_keep]
        t_scorers = {**{v: ts[v][t_keep] for v in VIEWS}, "longer_wins": t_words, "shorter_wins": -t_words}
        t_rank = np.array([r["tier_rank"] for r in tiers])[t_keep]

    ifd_raw = vs["raw"]["difficulty_ifd"][keep]
    results["alpaca"] = {
        "rows": len(alp), "scored": int(keep.sum()), "models": len({r["model"] for r in alp}),
        "win_share": float((quality > 0.5).mean()),
        "median_words": float(np.median(words)),
        "ifd_nan_share": float(np.isnan(ifd_raw).mean()),
    }
    print(f"AlpacaEval sample: {len(alp)} answers to distinct instructions by {results['alpaca']['models']} models "
          f"({int(keep.sum())} scored, the rest dropped by preprocess filters), "
          f"{results['alpaca']['win_share']:.1%} better than the reference, median {np.median(words):.0f} words; "
          f"difficulty_ifd NaN (IFD >= 1) on {results['alpaca']['ifd_nan_share']:.1%}")
    head = f"{'scorer':<16}{'AUROC':>8}{'rho_q':>8}{'rho_len':>8}  AUROC by length quartile (mean)"
    if tiers:
        head += "   tiers: rho(mean) rho(all) | tuned tiers only: rho(mean) rho(all)"
    print(head)
    for name, s in scorers.items():
        m = judge_metrics(s, quality, words)
        results.setdefault("views", {})[name] = m
        line = (f"{name:<16}{fmt(m['auroc']):>8}{fmt(m['rho_quality']):>8}{fmt(m['rho_words']):>8}  "
                + " ".join(fmt(x) for x in m["auroc_len_q"]) + f" ({fmt(m['auroc_len_q_mean'])})")
        if tiers:
            t = tier_metrics(t_scorers[name], t_rank)
            m["tiers"] = t
            line += (f"   {fmt(t['rho_tier_means']):>10} {fmt(t['rho_all']):>8} | "
                     f"{fmt(t['rho_tier_means_tuned']):>25} {fmt(t['rho_all_tuned']):>8}")
        print(line)
    # IFD over the rows where it is defined (IFD < 1), as the raw value: the order among kept pairs.
    ok = ~np.isnan(ifd_raw)
    m = judge_metrics(ifd_raw[ok], quality[ok], words[ok])
    results["ifd_defined_only"] = {**m, "rows": int(ok.sum())}
    print(f"{'ifd (IFD<1 only)':<16}{fmt(m['auroc']):>8}{fmt(m['rho_quality']):>8}{fmt(m['rho_words']):>8}  "
          + " ".join(fmt(x) for x in m["auroc_len_q"]) + f" ({fmt(m['auroc_len_q_mean'])})  n={int(ok.sum())}")
    if tiers:
        print(f"Self-Instruct tiers: {len(tiers)} rows ({int(t_keep.sum())} scored; scored per tier "
              f"{results['views']['longer_wins']['tiers']['rows']})")
        for name in VIEWS:
            print(f"  {name} mean score by tier (davinci .. text-davinci-003): "
                  + " ".join(f"{x:.2f}" for x in results["views"][name]["tiers"]["means"]))
    for key in ("seconds_alpaca", "seconds_tiers"):
        if key in results:
            print(f"{key}: {results[key]:.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
