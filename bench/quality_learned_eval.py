"""Held-out evaluation of quality_learned against its baselines (not a test).

Split (training/train_quality_learned.py `split`, a hash of the names): ~20% of the 805 AlpacaEval
instructions and ~20% of the answering models are held out; the model is trained on judgments of training
models on training instructions only, and tested on answers by held-out models to held-out instructions.
Figures on that test split, for quality_learned (trained here on the training split, scored through the
view), the same without its guard (the judge's fit alone) and without length terms (ablations),
quality_heuristic, "longer wins" and "shorter wins":

  pair_acc      pairs of test answers to the same instruction, same judge, different preference: share
                ordered as the judge orders them (ties count half)
  pair_acc_lc   the same over pairs whose lengths differ by less than 25% (where length cannot decide)
  auroc         AUROC of "better than the reference" (preference > 1.5) over test answers, and per judge
                (GPT-4-Turbo against GPT-4-Turbo's answer; GPT-4 against text-davinci-003's)
  auroc_len_q   AUROC within each quartile of answer length, and their mean (length held roughly fixed)
  spearman_len  Spearman(score, characters) over test answers
  syn_win       per kind of corruption (training/train_quality_learned.py `corrupt`: an answer to another
                held-out instruction, words shuffled within lines, a fragment repeated, cut mid-sentence at
                30-60%, noisy word salad), made from 400 held-out test answers: share of them scored above
                their corrupted copy (ties count half)
  tiers         Self-Instruct: Spearman of the mean score by model tier vs tier rank (8 tiers), and over
                all responses, on the held-out half of its 252 instructions (a hash: the other half trains
                the model since alpaca-lc-syn-3, training/train_quality_learned.py `with_tiers`)

  speed         examples/s of the shipped view's score_batch (batches of 1024) on AlpacaEval answers,
                once with the content embeddings already in the run's embedding store (as a run has
                them: the view then embeds only the prompts) and once from a cold store; wall and CPU

Usage: python bench/quality_learned_eval.py [--parts eval,speed] [--out /tmp/ql_eval.json]
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.core.record import Example, Turn, assign_ids, content_hash  # noqa: E402
from sft_select.views.registry import build  # noqa: E402
from train_quality_learned import (  # noqa: E402
    SYNTHETIC,
    TIERS,
    answer_features,
    load_alpaca,
    save,
    split,
    synthetic,
    tier_pairs,
    tier_train,
    train,
    training_synthetic,
    with_similar_pairs,
    with_tiers,
)


def examples(pairs: list[tuple[str, str]]) -> list[Example]:
    turns = [(Turn("user", p), Turn("assistant", a)) for p, a in pairs]
    ids = assign_ids([content_hash(t, None, None) for t in turns])
    return [Example(id=i, source="eval", row=k, format="alpaca", original={}, turns=t)
            for k, (i, t) in enumerate(zip(ids, turns))]


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def pair_accuracy(groups: dict, y: np.ndarray, s: np.ndarray, L: np.ndarray, max_log_ratio: float) -> tuple[float, int]:
    right, n = 0.0, 0
    for rows in groups.values():
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                if y[a] == y[b] or abs(L[a] - L[b]) > max_log_ratio:
                    continue
                n += 1
                right += 0.5 if s[a] == s[b] else float((s[a] > s[b]) == (y[a] > y[b]))
    return right / max(n, 1), n


def alpaca_metrics(score: np.ndarray, outputs: list[dict], table: dict, test: np.ndarray, L: np.ndarray) -> dict:
    """`score`: one value per test judgment row (the answer's score)."""
    from scipy.stats import spearmanr

    y = table["y"][test]
    lt = L[table["ans"][test]]
    groups = defaultdict(list)
    for k, (a, g) in enumerate(zip(table["ans"][test], table["judge"][test])):
        groups[(outputs[a]["instruction"], int(g))].append(k)
    acc, n_pairs = pair_accuracy(groups, y, score, lt, np.inf)
    acc_lc, n_lc = pair_accuracy(groups, y, score, lt, np.log(1.25))
    decided = y != 0.5
    win = (y > 0.5)[decided]
    q = np.quantile(lt, [0.25, 0.5, 0.75])
    bucket = np.searchsorted(q, lt)[decided]
    per_q = [auroc(win[bucket == b], score[decided][bucket == b]) for b in range(4)]
    judge = table["judge"][test][decided]
    by_judge = {name: round(auroc(win[judge == j], score[decided][judge == j]), 4)
                for j, name in enumerate(("gpt4_turbo_vs_gpt4_turbo", "gpt4_vs_davinci003"))}
    return {"pair_acc": round(acc, 4), "pairs": n_pairs, "pair_acc_lc": round(acc_lc, 4), "pairs_lc": n_lc,
            "auroc": round(auroc(win, score[decided]), 4), "auroc_by_judge": by_judge,
            "auroc_len_q": [round(v, 4) for v in per_q], "auroc_len_q_mean": round(float(np.mean(per_q)), 4),
            "spearman_len": round(float(spearmanr(score, np.expm1(lt)).correlation), 4)}


def synthetic_metrics(fn, outputs: list[dict], table: dict, test: np.ndarray) -> dict:
    prompts, answers, orig, kinds = synthetic(outputs, np.unique(table["ans"][test]), 400, seed=2)
    bad = fn(examples(list(zip(prompts, answers))))
    good = fn(examples([(outputs[i]["instruction"], outputs[i]["output"]) for i in orig]))
    kinds = np.array(kinds)
    win = (good > bad) + 0.5 * (good == bad)
    return {k: round(float(win[kinds == k].mean()), 4) for k in SYNTHETIC}


def tier_metrics(scores: dict[str, np.ndarray], held: np.ndarray) -> dict:
    """Spearman of the mean score by tier against the tier's rank, over the held-out half of the
    instructions (`held`; the other half trains the model) and over all, and over every held-out response."""
    from scipy.stats import spearmanr

    def by_tier(rows: np.ndarray) -> list[float]:
        return [float(np.mean(scores[t][rows])) for t in TIERS]

    flat = np.concatenate([scores[t][held] for t in TIERS])
    rank = np.repeat(np.arange(len(TIERS)), held.sum())
    return {"spearman_mean_by_tier": round(float(spearmanr(range(len(TIERS)), by_tier(held)).correlation), 4),
            "spearman_all": round(float(spearmanr(rank, flat).correlation), 4),
            "spearman_mean_by_tier_all_instructions": round(float(spearmanr(
                range(len(TIERS)), by_tier(np.ones_like(held))).correlation), 4),
            "mean_by_tier": [round(m, 3) for m in by_tier(held)]}


def speed(outputs: list[dict], n: int = 10_000, batch: int = 1024) -> dict:
    import time

    from sft_select.models.embed.embedders import EmbeddingStore, embed_examples

    os.environ["SFT_SELECT_EMBED_CACHE"] = "off"  # the cold pass must embed, not read the disk cache
    pool = examples([(o["instruction"], o["output"]) for o in outputs[:n]])
    view = build("quality_learned").fit(pool)
    out = {"examples": len(pool), "mean_answer_chars": round(float(np.mean([len(e.response) for e in pool])))}
    for label, warm in (("embeddings_in_store", True), ("embeddings_included", False)):
        EmbeddingStore.clear()
        if warm:
            embed_examples(pool)  # what the run has computed for its other views before this one scores
        wall, cpu = time.perf_counter(), time.process_time()
        for s in range(0, len(pool), batch):
            view.score_batch(pool[s:s + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[label] = {"per_s_wall": round(len(pool) / wall), "per_s_cpu": round(len(pool) / cpu)}
        print(label, out[label], file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/quality_learned_cache"))
    ap.add_argument("--parts", default="eval,speed")
    args = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "alpaca_eval_judgments").is_dir():
        print("no ../shared/data/alpaca_eval_judgments: skipped")
        return 0
    outputs, table = load_alpaca(data)
    results = {}
    if "speed" in args.parts:
        results["speed"] = speed(outputs)
    if "eval" not in args.parts:
        print(json.dumps(results))
        return 0
    F, L = answer_features(outputs, args.cache)
    masks = split(outputs, table)
    train_rows, test = masks["train"], masks["test"]
    print(f"train judgments {int(train_rows.sum())}, test judgments {int(test.sum())} "
          f"({len(masks['held_instructions'])} held-out instructions x {len(masks['held_models'])} held-out models)",
          file=sys.stderr)
    test_answers = examples([(outputs[a]["instruction"], outputs[a]["output"]) for a in table["ans"][test]])
    tiers = tier_pairs(data) if (data / "self_instruct_model_tiers").is_dir() else None
    tier_ex = {t: examples(p) for t, p in tiers.items()} if tiers else None
    tier_held = np.array([not tier_train(p) for p, _ in tiers[TIERS[0]]]) if tiers else None

    syn = training_synthetic(outputs, table, train_rows, args.cache)
    scorers = {}
    with tempfile.TemporaryDirectory() as tmp:
        Fa, La, table_a, rows_a, weight = (with_tiers(F, L, table, train_rows, data, args.cache) if tiers
                                           else (F, L, table, train_rows, None))
        table_a, rows_a, weight = with_similar_pairs(table_a, rows_a, weight, La)
        fitted = {lc: train(Fa, La, outputs, table_a, rows_a, length_control=lc, syn=syn, weight=weight,
                            log=lambda m: print(m, file=sys.stderr)) for lc in (True, False)}
        unguarded = {k: v for k, v in fitted[True].items() if not k.startswith("guard_")}  # = alpaca-lc-1's fit
        for name, model in (("quality_learned", fitted[True]), ("quality_learned_no_guard", unguarded),
                            ("quality_learned_no_length_control", fitted[False])):
            path = Path(tmp) / f"{name}.npz"
            save(model, path)
            view = build("quality_learned", {"path": str(path)}).fit(test_answers)
            scorers[name] = lambda ex, view=view: view.score_batch(ex).raw
        heur = build("quality_heuristic")
        scorers["quality_heuristic"] = lambda ex: heur.score_batch(ex).raw
        scorers["longer_wins"] = lambda ex: np.array([len(e.response) for e in ex], dtype=float)
        scorers["shorter_wins"] = lambda ex: -np.array([len(e.response) for e in ex], dtype=float)
        for name, fn in scorers.items():
            results[name] = alpaca_metrics(fn(test_answers), outputs, table, test, L)
            results[name]["syn_win"] = synthetic_metrics(fn, outputs, table, test)
            if tier_ex:
                results[name]["tiers"] = tier_metrics({t: fn(ex) for t, ex in tier_ex.items()}, tier_held)
            print(name, json.dumps(results[name]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
