"""LM views benchmark (not a test): throughput of the batched LM statistics against a naive loop, and
how quality_fluency / difficulty_ifd / difficulty_loss order the Self-Instruct model tiers.

1. Speed, CPU: `n` Dolly examples (seeded sample) scored twice with SmolLM2-135M-Instruct:
   - naive: one example at a time, the two forward passes a textbook IFD script runs (response after
     the prompt, response alone), full logits, no batching;
   - ours: `sft_select.models.lm.stats.compute_stats` (length-bucketed batches, shared chat-frame prefix
     computed once, vocabulary projection only at response positions).
   - ours runs at each `--dtype` (default auto: float32 on CPU; e.g. `float32,bfloat16` times both
     against the same naive loop), through transformers' forward; the naive loop is always float32, the
     textbook baseline.
   Both read exactly the same token ids (from `encode`), so tokens/s counts the same tokens for both:
   both contexts plus the response twice. They run alternately on chunks, so a change in machine load
   hits both alike. Agreement: the naive float32 losses are the reference for ours (float32 ours agrees
   to ~1e-5); reported as max/mean absolute loss difference and the Spearman correlation of the raw
   values of difficulty_ifd, difficulty_loss and quality_fluency, float32 vs ours.
2. Tiers: the same `k` Self-Instruct user-oriented instructions answered by 8 GPT-3 variants, scored
   with the three LM views; mean per tier and the Spearman correlation between tier order and that
   mean. Tier order, weakest to strongest, follows the Self-Instruct paper (Wang et al. 2023, Fig. 6);
   per-response human ratings were not released, so this is a weak proxy (see its SOURCE.txt).

    python bench/lm_bench.py --n 200 --k 40 [--chunk 100] [--dtype auto] [--out bench/out/lm_bench.json]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.core.record import Example, content_hash  # noqa: E402
from sft_select.io.formats import parse_row  # noqa: E402
from sft_select.io.load import load  # noqa: E402

TIERS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]


def naive_stats(lm, examples, max_tokens: int) -> np.ndarray:
    """Loss of the response with and without the prompt, one sequence per forward pass."""
    import torch
    import torch.nn.functional as F

    from sft_select.models.lm.stats import encode

    out = np.full((len(examples), 2), np.nan)
    for i, e in enumerate(encode(lm, examples, max_tokens)):
        if e is None:
            continue
        for col, context in enumerate((e.with_prompt, e.without_prompt)):
            ids = torch.tensor([context + e.response])
            with torch.inference_mode():
                logits = lm.model(input_ids=ids).logits[0]
            out[i, col] = F.cross_entropy(logits[len(context) - 1:-1], ids[0, len(context):]).item()
    return out


def view_values(stats: np.ndarray) -> dict[str, np.ndarray]:
    """Raw values of the three LM views from statistics rows, through the views' own code."""
    from sft_select.views.lm_difficulty import DifficultyIFD, DifficultyLoss
    from sft_select.views.lm_quality import QualityFluency

    return {view.name: np.array([view()._value(row)[0] if row[2] else np.nan for row in stats])
            for view in (DifficultyIFD, DifficultyLoss, QualityFluency)}


def agreement(reference: np.ndarray, ours: np.ndarray) -> dict:
    """How far `ours` statistics are from float32 ones: loss differences and rank agreement per view."""
    from scipy.stats import spearmanr

    diff = np.abs(reference[:, :2] - ours[:, :2])
    out = {"max_abs_loss_diff": round(float(np.nanmax(diff)), 4),
           "mean_abs_loss_diff": round(float(np.nanmean(diff)), 4)}
    ref_values, our_values = view_values(reference), view_values(ours)
    for name in ref_values:
        a, b = ref_values[name], our_values[name]
        both = np.isfinite(a) & np.isfinite(b)
        out[f"spearman_{name}"] = round(float(spearmanr(a[both], b[both]).statistic), 4)
        out[f"nan_mismatch_{name}"] = int((np.isfinite(a) != np.isfinite(b)).sum())  # e.g. IFD crossing 1
    return out


def speed(lm_f32, lms: dict, examples, chunk: int, max_tokens: int, batch_tokens: int) -> dict:
    """Naive float32 loop vs compute_stats on each of `lms` (by precision), alternating by chunk (the
    order rotates per chunk, so load drift hits every method alike); the naive losses are also the
    float32 reference for the agreement figures."""
    from sft_select.models.lm.stats import compute_stats, encode, token_count

    tokens = token_count(encode(lm_f32, examples, max_tokens))
    naive_stats(lm_f32, examples[:2], max_tokens)  # warm-up, untimed: first-call set-up of every path
    for lm in lms.values():
        compute_stats(lm, examples[:2], max_tokens=max_tokens, batch_tokens=batch_tokens)
    methods = ["naive", *lms]
    seconds = {m: 0.0 for m in methods}
    rows: dict[str, list] = {m: [] for m in methods}
    for c, start in enumerate(range(0, len(examples), chunk)):
        part = examples[start:start + chunk]
        order = methods[c % len(methods):] + methods[:c % len(methods)]
        for method in order:
            t0 = time.perf_counter()
            if method == "naive":
                rows[method].append(naive_stats(lm_f32, part, max_tokens))
            else:
                rows[method].append(compute_stats(lms[method], part, max_tokens=max_tokens,
                                                  batch_tokens=batch_tokens))
            seconds[method] += time.perf_counter() - t0
        print(f"  chunk {c}: " + ", ".join(f"{m} {seconds[m]:.1f}s" for m in methods)
              + f" (cumulative), load {os.getloadavg()[0]:.2f}", flush=True)
    out = {"examples": len(examples), "tokens": tokens, "naive_s": round(seconds["naive"], 2),
           "naive_tokens_per_s": round(tokens / seconds["naive"])}
    for name in lms:
        ours = np.concatenate(rows[name])
        reference = ours.copy()  # token counts and flags are the same; the two losses come from the naive loop
        reference[:, :2] = np.concatenate(rows["naive"])
        out[name] = {
            "ours_s": round(seconds[name], 2), "ours_tokens_per_s": round(tokens / seconds[name]),
            "speedup": round(seconds["naive"] / seconds[name], 2),
            "agreement_with_float32": agreement(reference, ours),
        }
    return out


def tier_examples(folder: Path, k: int, seed: int) -> tuple[list[Example], list[int]]:
    rows = {}
    for t in TIERS:
        with gzip.open(folder / "predictions" / f"{t}_predictions.jsonl.gz", "rt", encoding="utf-8") as fh:
            rows[t] = [json.loads(line) for line in fh]
    picked = sorted(random.Random(seed).sample(range(len(rows[TIERS[0]])), k))
    examples, tiers = [], []
    for rank, t in enumerate(TIERS):
        for i in picked:
            r = rows[t][i]
            turns = parse_row({"instruction": r["instruction"].strip(), "input": r.get("input") or "",
                               "output": r.get("response") or ""}, "alpaca").turns
            examples.append(Example(id=content_hash(turns, None, None) + f"-{t}", source=t, row=i, format="alpaca",
                                    original=r, turns=turns))
            tiers.append(rank)
    return examples, tiers


def tier_order(examples, tiers, batch_tokens: int, dtype: str) -> dict:
    from scipy.stats import spearmanr

    from sft_select.selection.combine import normalize
    from sft_select.views import build

    tiers = np.asarray(tiers)
    out = {}
    for name in ("quality_fluency", "difficulty_ifd", "difficulty_loss"):
        view = build(name, {"batch_tokens": batch_tokens, "device": "cpu", "dtype": dtype}).fit(examples)
        raw = view.score_batch(examples).raw
        g = np.nan_to_num(normalize(raw, "rank", view.higher_is_better), nan=0.0)  # what enters the combined score
        finite = np.isfinite(raw)
        means = [float(raw[(tiers == t) & finite].mean()) if (finite & (tiers == t)).any() else float("nan")
                 for t in range(len(TIERS))]
        g_means = [float(g[tiers == t].mean()) for t in range(len(TIERS))]
        scored = [t for t in range(len(TIERS)) if np.isfinite(means[t])]  # a tier with no finite score has no mean
        out[name] = {
            "higher_is_better": view.higher_is_better,
            "mean_raw_per_tier": {t: round(m, 3) for t, m in zip(TIERS, means)},
            "nan_per_tier": {t: int(np.isnan(raw[tiers == i]).sum()) for i, t in enumerate(TIERS)},
            "spearman_tier_vs_mean_raw": round(float(spearmanr(scored, [means[t] for t in scored]).statistic), 3),
            "mean_normalized_per_tier": {t: round(m, 3) for t, m in zip(TIERS, g_means)},
            "spearman_tier_vs_mean_normalized": round(float(spearmanr(range(len(TIERS)), g_means).statistic), 3),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="Dolly examples for the speed comparison")
    ap.add_argument("--chunk", type=int, default=100, help="examples per alternating naive/ours chunk")
    ap.add_argument("--k", type=int, default=40, help="Self-Instruct instructions per tier (x8 responses)")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--batch-tokens", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="auto", help="precision of ours and of the tier views (auto: float32 on "
                    "CPU); several, comma-separated (float32,bfloat16), are timed side by side against one naive "
                    "loop (the tiers use the first); the naive loop is always float32")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's own choice, one per core)")
    ap.add_argument("--agree", type=int, default=0, help="also: this many Dolly examples (another seeded "
                    "sample) scored batched in float32 and in --dtype, agreement only, untimed")
    ap.add_argument("--skip", choices=["speed", "tiers"], action="append", default=[])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "lm_bench.json",
                    help="also write the results as JSON here")
    args = ap.parse_args()

    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to benchmark")
        return
    import torch

    from sft_select.models.lm.loader import get_lm

    if args.threads:
        torch.set_num_threads(args.threads)

    import tempfile

    from sft_select.models.lm.stats import LMStatsStore

    LMStatsStore.root = Path(tempfile.mkdtemp(prefix="lm_bench_"))  # time real forward passes, not the cache
    dtypes = args.dtype.split(",")
    lms = {}
    for d in dtypes:
        lm = get_lm("smollm2-135m", device="cpu", dtype=d)
        lms[lm.precision] = lm
    lm = lms[next(iter(lms))]
    lm_f32 = get_lm("smollm2-135m", device="cpu", dtype="float32")
    results: dict = {"dtype": args.dtype, "precision": lm.precision, "threads": torch.get_num_threads(),
                     "cpus": os.cpu_count(),
                     "load_before": [round(x, 2) for x in os.getloadavg()]}
    if "speed" not in args.skip:
        pool = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
        sample = random.Random(args.seed).sample(pool, args.n)
        print(f"speed: {args.n} Dolly examples, naive vs ours, chunks of {args.chunk}", flush=True)
        results["speed"] = speed(lm_f32, lms, sample, args.chunk, args.max_tokens, args.batch_tokens)
        print(json.dumps(results["speed"], indent=2), flush=True)
    if args.agree:
        from sft_select.models.lm.stats import compute_stats

        pool = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
        sample = random.Random(args.seed + 1).sample(pool, args.agree)
        print(f"agreement: {args.agree} Dolly examples, float32 vs {lm.precision}, both batched", flush=True)
        ref = compute_stats(lm_f32, sample, max_tokens=args.max_tokens, batch_tokens=args.batch_tokens)
        ours = compute_stats(lm, sample, max_tokens=args.max_tokens, batch_tokens=args.batch_tokens)
        results["agreement"] = {"examples": args.agree, **agreement(ref, ours)}
        print(json.dumps(results["agreement"], indent=2), flush=True)
    if "tiers" not in args.skip:
        examples, tiers = tier_examples(data / "self_instruct_model_tiers", args.k, args.seed)
        print(f"tiers: {args.k} instructions x {len(TIERS)} models", flush=True)
        t0 = time.perf_counter()
        results["tiers"] = tier_order(examples, tiers, args.batch_tokens, dtypes[0])
        results["tiers_seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(results["tiers"], indent=2), flush=True)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
