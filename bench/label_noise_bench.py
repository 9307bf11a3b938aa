"""Label-noise detection on the human-confirmed label errors (issue #22): quality_label's proxies vs cleanlab.

Methods, each scored with cleanlab (self-confidence = p(given label), the flag = find_label_issues with
prune_by_noise_rate) on 5-fold out-of-fold probabilities:
  cleanlab_tfidf    plain cleanlab: TfidfVectorizer(sublinear_tf, min_df=2, max_df=0.5) + LogisticRegression(C=1)
  embedding         quality_label(features="embedding"): logistic regression on static embeddings (before #22)
  tfidf             quality_label(features="tfidf"): hashed word TF-IDF (min_df 2, max_df 0.5), C_tfidf=10
  both              quality_label(features="both"): the two mixed with the OOF log-loss weight (the default)
  both_even         the same two OOF matrices mixed half and half (bench only: is the fitted weight better?);
                    its fit s is the mixing and cleanlab alone (the folds are the memoized ones of the rows before)

Data: the 20news test split (7,532 rows, 82 confirmed errors / 11 confirmed correct) and the IMDB test split
(25,000 rows, 725 / 585); `is_label_error` is null for unchecked rows. Columns:
  AUROC err/ok   low score = error, confirmed errors against confirmed-correct rows (hard: the checked
                 rows were all cleanlab candidates; 20news has only 11 correct ones)
  AUROC err/rest confirmed errors against every other row (unchecked rows presumed mostly clean)
  recall         share of the confirmed errors among the flagged rows;  precision: confirmed errors among
                 flagged rows that were checked
  fit s          wall seconds of fit (features, folds, cleanlab); `both` is cold (its folds refit, not memoized)

Usage: python bench/label_noise_bench.py [--datasets 20news,imdb] [--methods ...]
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.embed.embedders import EmbeddingStore, embed_examples  # noqa: E402
from sft_select.views import oof  # noqa: E402
from sft_select.views.registry import build  # noqa: E402

FILES = {"20news": ("20news_label_errors", "20news_test.jsonl.gz"), "imdb": ("imdb_label_errors", "imdb_test.jsonl.gz")}
METHODS = ("cleanlab_tfidf", "embedding", "tfidf", "both", "both_even")


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(positive)), np.zeros(len(negative))], np.r_[positive, negative]))


def plain_cleanlab(pool) -> tuple[np.ndarray, np.ndarray]:
    """(label quality, flag) from cleanlab on a TfidfVectorizer + LogisticRegression, 5 folds, seed 0."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts = [ex.content for ex in pool]
    classes = sorted({ex.label for ex in pool})
    y = np.searchsorted(classes, [ex.label for ex in pool])
    X = TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5).fit_transform(texts)
    probs = cross_val_predict(LogisticRegression(C=1.0, max_iter=1000), X, y, method="predict_proba",
                              cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return get_label_quality_scores(y, probs), find_label_issues(y, probs, filter_by="prune_by_noise_rate", n_jobs=1)


def even_mix(pool, embedder: str) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab on 0.5·p_embedding + 0.5·p_tfidf (every label here has many rows: the pool is the fit pool)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    pe, classes, _, _ = oof._fit_folds(pool, embedder, 5, 0, 1.0)
    pt, _, _, _ = oof._fit_folds(pool, embedder, 5, 0, 10.0, tfidf=True)
    probs = 0.5 * pe + 0.5 * pt
    y = np.searchsorted(classes, [ex.label for ex in pool])
    return get_label_quality_scores(y, probs), find_label_issues(y, probs, filter_by="prune_by_noise_rate", n_jobs=1)


def run(name: str, data: Path, methods: list[str], embedder: str, warm: bool = False) -> list[dict]:
    folder, file = FILES[name]
    pool = load([data / folder / file], fmt="text_label", fields={"label": "label_name"}).examples
    truth = np.array([ex.original.get("is_label_error") for ex in pool], dtype=object)
    err, ok = truth == True, truth == False  # noqa: E712 - null means never checked
    embed_examples(pool, embedder)  # embeddings are shared by every run: computed (or read) once, untimed
    rows = []
    for method in methods:
        if method not in ("tfidf", "both_even") or not warm:
            oof._MEMO.clear()
        start = time.perf_counter()
        if method == "cleanlab_tfidf":
            score, flag, weight = *plain_cleanlab(pool), None
        elif method == "both_even":
            score, flag, weight = *even_mix(pool, embedder), 0.5
        else:
            view = build("quality_label", {"model": embedder, "features": method}).fit(pool)
            res = view.score_batch(pool)
            score, flag, weight = res.raw, res.extra["issue"], view.proxy_.weight
        seconds = time.perf_counter() - start
        row = {"data": name, "method": method, "auroc_err_ok": auroc(-score[err], -score[ok]),
               "auroc_err_rest": auroc(-score[err], -score[~err]), "flagged": int(flag.sum()),
               "recall": float(flag[err].mean()), "precision": float(err[flag].sum() / max(1, (err | ok)[flag].sum())),
               "fit_s": seconds, "weight": weight,
               "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
        rows.append(row)
        print(f"{name} {method}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in row.items() if k not in ("data", "method")), flush=True)
    EmbeddingStore.clear()
    return rows


def table(rows: list[dict]) -> str:
    out = ["| data | method | AUROC err/ok | AUROC err/rest | flagged | recall | precision | fit s | w (embedding) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = "" if r["weight"] is None else f"{r['weight']:.1f}"
        out.append(f"| {r['data']} | {r['method']} | {r['auroc_err_ok']:.3f} | {r['auroc_err_rest']:.3f} | "
                   f"{r['flagged']:,} | {r['recall']:.3f} | {r['precision']:.3f} | {r['fit_s']:.0f} | {w} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="20news,imdb")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--embedder", default="static-minilm")
    ap.add_argument("--warm", action="store_true", help="tfidf reuses the folds of an earlier both (its fit s is then "
                    "the cleanlab part only); saves a TF-IDF fit")
    args = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "20news_label_errors").is_dir():
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to benchmark")
        return
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)} (known: {', '.join(METHODS)})")
    rows = [r for name in args.datasets.split(",") for r in run(name, data, methods, args.embedder, args.warm)]
    print(table(rows))


if __name__ == "__main__":
    main()
