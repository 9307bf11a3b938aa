"""`train-quality` on two extremes against graded labels: self_instruct's 8 model tiers (#22).

The instructions are split half/half (a seeded permutation); each model trains on the training half and
is scored on the held-out half. Reported: Spearman of the mean score by tier against the tier rank (0 =
base davinci ... 7 = text-davinci-003), where text-davinci-003 ranks among the 8 (1 = highest mean), the
held-out pair accuracy of answers to one instruction, and the fit's time.

  extremes   quality_learned fit on tier 0 vs tier 7 only (two values: train-quality warns)
  graded     quality_learned fit on all 8 tiers, grade = tier index (pairs within an instruction)
  ridge      a ridge regression of the tier index on the same standardized features (the alternative)
  qm-ext     quality_model (the good/bad classifier) on tier 7 as good, tier 0 as bad
  shipped    the shipped quality_learned model (trained on AlpacaEval judgments), for reference

  python bench/train_quality_tiers.py [--embedder static-minilm] [--seed 0]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.core.record import Example, Turn, assign_ids, content_hash  # noqa: E402
from sft_select.views import quality_learned_fit as qlf  # noqa: E402
from sft_select.views.registry import build  # noqa: E402

TIERS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]


def tier_rows(data: Path) -> list[tuple[int, int, str, str]]:
    """(instruction index, tier, prompt, response) of every answer."""
    out = []
    for t, name in enumerate(TIERS):
        with gzip.open(data / "self_instruct_model_tiers" / "predictions" / f"{name}_predictions.jsonl.gz", "rt") as fh:
            for i, line in enumerate(fh):
                r = json.loads(line)
                prompt = r["instruction"].strip() + ("\n\n" + r["input"].strip() if r.get("input", "").strip() else "")
                out.append((i, t, prompt, r["response"]))
    return out


def examples(rows) -> list[Example]:
    turns = [(Turn("user", p), Turn("assistant", a)) for _, _, p, a in rows]
    ids = assign_ids([content_hash(t, None, None) for t in turns])
    return [Example(id=i, source="tiers", row=k, format="alpaca", original={}, turns=t)
            for k, (i, t) in enumerate(zip(ids, turns))]


def figures(score: np.ndarray, tier: np.ndarray, instr: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    means = np.array([score[tier == t].mean() for t in range(len(TIERS))])
    order = np.argsort(-means)
    right, n = 0.0, 0
    for i in np.unique(instr):
        rows = np.flatnonzero(instr == i)
        a, b = np.triu_indices(len(rows), 1)
        d = (score[rows[a]] - score[rows[b]]) * np.sign(tier[rows[a]] - tier[rows[b]])
        right += float(np.sum((d > 0) + 0.5 * (d == 0)))
        n += len(a)
    return {"spearman_mean_by_tier": round(float(spearmanr(np.arange(len(TIERS)), means).correlation), 3),
            "rank_003": int(np.flatnonzero(order == len(TIERS) - 1)[0]) + 1,
            "pair_acc": round(right / n, 3), "mean_by_tier": means.round(3).tolist()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="static-minilm")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "self_instruct_model_tiers").is_dir():
        print("no ../shared/data/self_instruct_model_tiers: nothing to measure")
        return 0
    rows = tier_rows(data)
    n_instr = max(r[0] for r in rows) + 1
    train_i = set(np.random.default_rng(args.seed).permutation(n_instr)[: n_instr // 2].tolist())
    train = [r for r in rows if r[0] in train_i]
    test = [r for r in rows if r[0] not in train_i]
    test_ex = examples(test)
    t_tier, t_instr = np.array([r[1] for r in test]), np.array([r[0] for r in test])
    results, tmp = {}, Path(tempfile.mkdtemp(prefix="tq-tiers-"))

    def learned(name: str, subset) -> None:
        t0 = time.time()
        model = qlf.fit_graded(examples(subset), [r[1] for r in subset], embedder=args.embedder, seed=args.seed)
        fit_s = time.time() - t0
        path = qlf.write_model(model, tmp / f"{name}.npz")
        view = build("quality_learned", {"path": str(path)}).fit(test_ex)
        results[name] = {**figures(view.score_batch(test_ex).raw, t_tier, t_instr), "fit_s": round(fit_s, 1),
                         "train_pairs": model["meta"]["pairs"]["count"], "cv": model["meta"]["cv"],
                         "span": model["meta"]["labels"]["span"]}

    learned("extremes", [r for r in train if r[1] in (0, len(TIERS) - 1)])
    learned("graded", train)

    # the alternative: a ridge regression of the grade on the same standardized features
    from sklearn.linear_model import RidgeCV

    F = qlf.features([r[2] for r in train], [r[3] for r in train], args.embedder)
    mean, scale = F.mean(axis=0), F.std(axis=0)
    scale[scale < 1e-9] = 1.0
    t0 = time.time()
    ridge = RidgeCV(alphas=(1.0, 10.0, 100.0, 1000.0)).fit((F - mean) / scale, [r[1] for r in train])
    fit_s = time.time() - t0
    Ft = qlf.features([r[2] for r in test], [r[3] for r in test], args.embedder)
    results["ridge"] = {**figures(ridge.predict((Ft - mean) / scale), t_tier, t_instr), "fit_s": round(fit_s, 1),
                        "alpha": float(ridge.alpha_)}

    from sft_select.views.quality_model import train_quality_model

    ext = [r for r in train if r[1] in (0, len(TIERS) - 1)]
    qm = train_quality_model(examples([r for r in ext if r[1] > 0]), examples([r for r in ext if r[1] == 0]),
                             embedder=args.embedder, seed=args.seed)
    results["qm-ext"] = {**figures(qm.predict(test_ex), t_tier, t_instr), "cv_auc": qm.meta["cv"]["auc"]}
    shipped = build("quality_learned", {}).fit(test_ex)
    results["shipped"] = figures(shipped.score_batch(test_ex).raw, t_tier, t_instr)
    print(json.dumps({"train_instructions": len(train_i), "test_instructions": n_instr - len(train_i),
                      "embedder": args.embedder, "seed": args.seed, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
