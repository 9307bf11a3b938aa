"""Selection case study on real noisy labelled data: does multi-view selection beat random and top-N?

For each dataset, a labelled pool is reduced to 20% and 50% by several methods; every eval model is
trained the same way on each subset and its accuracy is measured on a test split that no selection or
tuning step ever sees. Eval models (`--eval-models`): `static` (logistic regression on static-minilm,
the tune loop's default proxy), `tfidf` (logistic regression on word TF-IDF), `mlp` (a one-hidden-layer
network on static-minilm trained for a fixed number of epochs with no early stopping: like fine-tuning,
it fits much of its training set, flipped labels included), `minilm` (logistic regression on full
all-MiniLM-L6-v2 embeddings, cached under --work; slow on CPU). The C of tfidf and minilm and the mlp's
L2 alpha are chosen once per dataset on the validation split with the whole pool (method-independent),
or per subset with `--per-subset-C` (logistic regressions only).

Methods: random (3 seeds) · whole pool · cleanlab's filter (find_label_issues on 5-fold out-of-fold
probabilities, every flagged row dropped) · top-N by one view (each view alone) · for each strategy in
`--strategies`: ours untuned (equal weights) and ours tuned (`sft_select.tune.loop.tune_table`: the
closed loop picks the view weights and τ — and coverage's settings: group_trim (`--trims`), cover_mix
(`--mixes`), group_order (`--orders`) — on the tune part of the validation split, then selects with that
strategy; the loop's proxy is `--proxy`: logreg, or mlp, a network that fits S like the mlp eval model);
for coverage also "coverage by quality_label alone" and, with `--label-weights`, the loop run
with the weight fixed to quality_label (choosing only the coverage settings). `active` (margin sampling
with the labels known, selection/active.py) orders S by a classifier refit on S, not by the weights, which
reach it only through τ; the loop can choose its settings (`--active-seeds`, `--active-batches`,
`--active-skips`, `--active-Cs`, `--active-scores`: tune.active_*), when active is in `--strategies` or
`--tune-strategies`; `--no-tune` skips the loop's rows for such a run. The pool is scored once per dataset
(views cached in --work/<dataset>/run); every method
re-combines and re-selects from that one table.

Datasets (from ../shared/data, see its README): `20news` (train 11,314 as the pool, test split into
1,500 validation + 6,032 test), `20news-noisy` (the same with 20% of the pool's labels flipped at
random, seeded: the regime of label-noise case studies), `20news4-noisy` (4 topics, 10,000 posts, 20% of the
labels wrong where a classifier hesitates, each to a
class it resembles: the regime of human label noise), `imdb` (25,000 reviews: pool 15,000,
validation 2,000, test 8,000). For the noisy variant the share of flipped labels inside each subset is
reported too.

Views are taken from the registry by name; views not registered in this build are listed and skipped.

    python bench/case_study.py --datasets 20news-noisy,imdb --choose one_se --strategies coverage \
        --trims 0,0.15,0.3 --mixes 0,0.1,1 --orders cover,difficulty_margin --label-weights \
        --eval-models static,tfidf,mlp --proxy mlp --work /tmp/case --out case_study.json

Scratch files go to --work (default: a temp folder), never into the repository.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from sft_select.config.schema import build_config  # noqa: E402
from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
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
    if name == "20news4-noisy":
        return _news4(data, rng)
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


NEWS4 = {"comp": "computers", "rec": "recreation", "sci": "science", "talk": "society", "soc": "society",
         "alt": "society"}


def _news4(data: Path, rng) -> tuple[list[dict], list[dict], list[dict], dict]:
    """20news as 4 topics (computers, recreation, science, society; misc.forsale left out), a pool of 10,000
    train posts with 20% of the labels wrong the way annotators err: the rows a classifier finds ambiguous
    are the likelier ones to flip (probability in proportion to 1 - p(true class), out of fold), and each
    goes to a class it resembles (in proportion to the other classes' probabilities). Validation 1,500 and
    test 5,000 come from the test split, with the true topic."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    def topic(r):
        return NEWS4.get(r["label_name"].split(".")[0])

    train = [r for r in read_gz(data / "20news_label_errors" / "20news_train.jsonl.gz") if topic(r)]
    test = [r for r in read_gz(data / "20news_label_errors" / "20news_test.jsonl.gz") if topic(r)]
    train = [train[i] for i in rng.permutation(len(train))[:10000]]
    test = [test[i] for i in rng.permutation(len(test))[:6500]]
    texts = [r["text"] for r in train]
    y = np.array([topic(r) for r in train])
    classes = sorted(set(y))
    X = TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5).fit_transform(texts)
    proba = cross_val_predict(LogisticRegression(C=10, max_iter=1000), X, y, cv=5, method="predict_proba")
    true = np.searchsorted(classes, y)
    doubt = 1.0 - proba[np.arange(len(y)), true]
    p_flip = np.clip(doubt * 0.2 / doubt.mean(), 0, 1)
    flip = rng.random(len(y)) < p_flip
    labels = [str(v) for v in y]
    for i in np.flatnonzero(flip):
        p = proba[i].copy()
        p[true[i]] = 0.0
        p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1 / (len(p) - 1)) * (np.arange(len(p)) != true[i])
        labels[i] = str(classes[int(rng.choice(len(p), p=p))])
    pool = [{"text": t, "label": lab} for t, lab in zip(texts, labels)]
    rows = [{"text": r["text"], "label": topic(r)} for r in test]
    return pool, rows[:1500], rows[1500:], {"pool_source": "20news train, 4 topics", "flipped":
                                            [int(i) for i in np.flatnonzero(flip)]}


def minilm_features(texts: list[str], cache_dir: Path, max_seq_length: int = 128, batch: int = 256) -> np.ndarray:
    """Full all-MiniLM-L6-v2 sentence embeddings (first `max_seq_length` tokens), cached on disk.

    ~60 texts/s on 2 cores, so the vectors are written to `cache_dir` as they come (a killed run resumes)
    under a name hashing the model, the length and every text; the same texts are never embedded twice.
    """
    import hashlib

    from sft_select.models.embed.embedders import minilm_path

    h = hashlib.sha256(f"all-MiniLM-L6-v2|{max_seq_length}".encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace") + b"\0")
    path = Path(cache_dir) / f"minilm{max_seq_length}-{h.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path()), device="cpu")
    model.max_seq_length = max_seq_length
    part = path.with_suffix(".part.npy")
    out = [np.load(part)] if part.exists() else [np.zeros((0, 384), np.float32)]
    t0 = time.perf_counter()
    for s in range(len(out[0]), len(texts), batch):
        out.append(model.encode([t[:4000] for t in texts[s:s + batch]], batch_size=64, normalize_embeddings=True,
                                show_progress_bar=False).astype(np.float32))
        np.save(part, np.vstack(out))
        print(f"  minilm {min(s + batch, len(texts))}/{len(texts)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    X = np.vstack(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    part.unlink(missing_ok=True)
    return X


class EvalModel:
    """One model trained the same way on every subset; only its accuracy on the test split is reported.

    `logreg`: logistic regression on fixed features; its C is given, or chosen once per dataset among C_GRID
    by validation accuracy of the whole pool (so the choice depends on no method's subset). With
    `per_subset`, C is chosen again for every subset S, as a user tuning their own final model would.

    `mlp`: a one-hidden-layer network (MLP_HIDDEN ReLU units, Adam, batches of 200) on the static-minilm
    features, trained for a fixed MLP_EPOCHS epochs with no early stopping and no validation split, seeded:
    the stand-in for fine-tuning, which fits its training set, flipped labels included, where a regularized
    linear model on the same features averages uniform flips away. How far it fits is reported with every
    result as `mlp_train` (accuracy on its own training rows: 0.84 on the whole 20news-noisy pool at alpha
    0.01, ~1.0 on clean subsets). Its L2 penalty `alpha` is chosen like C, once per dataset on the whole
    pool's validation accuracy, among MLP_ALPHAS; a stronger penalty (0.1: training accuracy 0.66 on that
    pool) stops fitting the training set and behaves like the linear models, so it is not in the grid.
    """

    C_GRID = (1.0, 10.0, 100.0)
    MLP_ALPHAS = (1e-4, 1e-3, 1e-2)
    MLP_EPOCHS = 200
    MLP_HIDDEN = 256

    def __init__(self, name: str, X_pool, X_val, X_test, y_pool, y_val, y_test, C: float | None = None,
                 per_subset: bool = False, kind: str = "logreg"):
        self.name, self.kind = name, kind
        self.per_subset = per_subset and kind == "logreg"
        self.Xp, self.Xv, self.Xt = X_pool, X_val, X_test
        self.yp = np.asarray(y_pool, dtype=object)
        self.yv, self.yt = np.asarray(y_val, dtype=object), np.asarray(y_test, dtype=object)
        self.C_scores: dict[float, float] = {}
        if C is None:
            every = np.arange(len(self.yp))
            grid = self.C_GRID if kind == "logreg" else self.MLP_ALPHAS
            self.C_scores = {c: self._acc(every, c, self.Xv, self.yv) for c in grid}
            # Ties: the stronger regularization (smaller C, larger alpha).
            C = max(self.C_scores, key=lambda c: (self.C_scores[c], -c if kind == "logreg" else c))
        self.C = C

    def _fit(self, idx, C):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        from sft_select.evaluate.proxy_mlp import flush_denormals

        if self.kind == "mlp":
            # tol=0 and n_iter_no_change=epochs: every epoch runs, no early stop on the training loss either.
            clf = MLPClassifier((self.MLP_HIDDEN,), alpha=C, batch_size=200, learning_rate_init=1e-3,
                                max_iter=self.MLP_EPOCHS,
                                tol=0.0, n_iter_no_change=self.MLP_EPOCHS, early_stopping=False, random_state=0)
        else:
            clf = LogisticRegression(C=C, max_iter=1000, random_state=0)
        # The mlp's fit, once it memorizes, runs into denormal floats (evaluate/proxy_mlp.py): flushed, 3-5x faster.
        ftz = flush_denormals() if self.kind == "mlp" else contextlib.nullcontext()
        with warnings.catch_warnings(), threadpool_limits(limits=1), ftz:
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(self.Xp[idx], self.yp[idx])
        return clf

    def _acc(self, idx, C, X, y) -> float:
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        return float((self._fit(idx, C).predict(X) == y).mean())

    def test_accuracy(self, idx) -> tuple[float, float, float]:
        """(test accuracy, the C or alpha it was trained with, accuracy on its own training rows)."""
        C = self.C
        if self.per_subset:
            on_val = {c: self._acc(idx, c, self.Xv, self.yv) for c in self.C_GRID}
            C = max(on_val, key=lambda c: (on_val[c], -c))
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        clf = self._fit(idx, C)
        return (float((clf.predict(self.Xt) == self.yt).mean()), C,
                float((clf.predict(self.Xp[idx]) == self.yp[idx]).mean()))


def eval_models(names: list[str], pool_texts, val_texts, test_texts, y_pool, y_val, y_test, static,
                cache_dir: Path, per_subset: bool = False, fixed: dict[str, float] | None = None) -> list[EvalModel]:
    """static: the tune loop's default proxy as is (static-minilm, C=1); tfidf: word TF-IDF fit on the pool's
    texts (no labels); minilm: full all-MiniLM-L6-v2 embeddings, first 128 tokens. `fixed`: a C (or the
    mlp's alpha) per model name, given instead of chosen on validation (a value an earlier run chose)."""
    fixed = fixed or {}
    out = []
    for name in names:
        t = time.perf_counter()
        if name == "static":
            Xp, Xv, Xt = static
            out.append(EvalModel(name, Xp, Xv, Xt, y_pool, y_val, y_test, C=1.0))
        elif name == "tfidf":
            from sklearn.feature_extraction.text import TfidfVectorizer

            vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5, dtype=np.float32).fit(pool_texts)
            out.append(EvalModel(name, vec.transform(pool_texts), vec.transform(val_texts), vec.transform(test_texts),
                                 y_pool, y_val, y_test, C=fixed.get(name), per_subset=per_subset))
        elif name == "mlp":
            Xp, Xv, Xt = static
            out.append(EvalModel(name, Xp, Xv, Xt, y_pool, y_val, y_test, C=fixed.get(name), kind="mlp"))
        elif name == "minilm":
            X = minilm_features(list(pool_texts) + list(val_texts) + list(test_texts), cache_dir)
            a, b = len(pool_texts), len(pool_texts) + len(val_texts)
            out.append(EvalModel(name, X[:a], X[a:b], X[b:], y_pool, y_val, y_test, per_subset=per_subset))
        else:
            raise SystemExit(f"unknown eval model {name} (static, tfidf, mlp, minilm)")
        m = out[-1]
        par = "alpha" if m.kind == "mlp" else "C"
        print(f"  eval model {name}: {par}={m.C}" + (f" (validation acc by {par}: {m.C_scores})" if m.C_scores else "")
              + f", {time.perf_counter() - t:.0f} s", flush=True)
    return out


class Evaluator:
    """Train every eval model on a subset of the pool; test accuracy per model (and noise inside S)."""

    def __init__(self, pool_examples, models: list[EvalModel], noisy_rows: set[int]):
        self.pos = {ex.id: k for k, ex in enumerate(pool_examples)}
        self.models = models
        self.noisy = np.zeros(len(pool_examples), dtype=bool)
        self.noisy[sorted(noisy_rows)] = True
        self.track_noise = bool(noisy_rows)

    def __call__(self, ids) -> dict:
        idx = np.array([self.pos[i] for i in ids], dtype=np.int64)
        out: dict = {"size": len(idx)}
        for m in self.models:
            acc, C, train = m.test_accuracy(idx)
            out[m.name] = round(acc, 4)
            if m.kind == "mlp":
                out[f"{m.name}_train"] = round(train, 4)
            if m.per_subset:
                out[f"{m.name}_C"] = C
        if self.track_noise:
            out["noisy_share"] = round(float(self.noisy[idx].mean()) if len(idx) else 0.0, 4)
        return out


def cleanlab_filter(pool_examples, seed: int) -> list[str]:
    """cleanlab's recipe: out-of-fold probabilities (5-fold LR on the same embeddings), drop flagged rows."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    from sft_select.models.embed.embedders import embed_examples

    X = embed_examples(pool_examples, "static-minilm")
    classes = sorted({ex.label for ex in pool_examples})
    y = np.searchsorted(classes, [ex.label for ex in pool_examples])
    with threadpool_limits(limits=1):
        probs = cross_val_predict(LogisticRegression(max_iter=1000), X, y, method="predict_proba",
                                  cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    issues = find_label_issues(y, probs, filter_by="prune_by_noise_rate")
    return [ex.id for ex, bad in zip(pool_examples, issues) if not bad]


def mean_runs(runs: list[dict], models: list[str]) -> dict:
    out = {"size": runs[0]["size"], "runs": runs}
    for m in models:
        vals = [r[m] for r in runs]
        out[m], out[f"{m}_sd"] = round(float(np.mean(vals)), 4), round(float(np.std(vals)), 4)
    if "noisy_share" in runs[0]:
        out["noisy_share"] = round(float(np.mean([r["noisy_share"] for r in runs])), 4)
    return out


def ours_config(args, views: list[str], frac: float, strategy: str, proxy: str | None = None) -> dict:
    select = {"fraction": frac, "strategy": strategy, "quota_by": "label"}
    if strategy == "coverage":
        select.update({"group_trim": args.group_trim, "cover_mix": 0.0})
    return {
        "seed": args.seed, "embedding": {"model": "static-minilm"}, "views": {"use": views},
        "select": select, "evaluate": {"proxy": "classifier", "classifier": {"model": proxy or args.proxy[0]}},
        "tune": {"rounds": args.rounds, "trials": args.trials, "sweep": [0.5, 0.75, 1.0], "holdout": args.holdout,
                 "random_seeds": 3, "choose": args.choose,
                 **({"trims": args.trims} if strategy == "coverage" and args.trims else {}),
                 **({"cover_mixes": args.mixes} if strategy == "coverage" and args.mixes else {}),
                 **({"group_orders": args.orders} if strategy == "coverage" and args.orders else {}),
                 **({"strategies": args.tune_strategies} if args.tune_strategies else {}),
                 **(active_grid(args) if "active" in (strategy, *args.tune_strategies) else {})},
    }


def active_grid(args) -> dict:
    """tune.active_*: the active strategy's settings the loop tries (tune/params.py)."""
    grid = {"active_seeds": args.active_seeds, "active_batches": args.active_batches,
            "active_skips": args.active_skips, "active_Cs": args.active_Cs, "active_scores": args.active_scores}
    return {k: v for k, v in grid.items() if v}


@dataclass
class Prepared:
    """One dataset made ready for selection: its splits on disk and loaded, the pool scored once by every
    view (every method re-combines and re-selects from this one table), and the eval models fit-ready."""

    work: Path
    pool: list
    val: list
    val_file: Path
    test_size: int
    views: list[str]
    missing: list[str]
    table: object  # pandas.DataFrame: the views' scores, one row per pool example
    cfg0: object  # the scoring run's Config
    models: list[EvalModel]
    evaluator: "Evaluator"
    seconds_scoring: float


def prepare(name: str, args, data: Path) -> Prepared:
    """Splits, files, the scored table and the eval models of dataset `name` under `args.work`/`name`
    (args: seed, work, limit, eval_models, per_subset_C, tfidf_C, mlp_alpha)."""
    from sft_select.models.embed.embedders import embed_examples
    from sft_select.pipelines.in_memory import run as run_pipeline

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
    val = load([val_file]).examples
    test = load([test_file]).examples
    if not (len(pool), len(val), len(test)) == (len(pool_rows), len(val_rows), len(test_rows)):
        raise SystemExit("a split lost rows on loading; positions would not match")
    noisy = set(facts.get("flipped", [])) | set(facts.get("confirmed_errors", []))
    views = [v for v in WANTED_VIEWS if v in registered()]
    missing = [v for v in WANTED_VIEWS if v not in registered()]
    print(f"[{name}] pool {len(pool)}, validation {len(val_rows)}, test {len(test)}; views {views}"
          + (f"; not in this build: {missing}" if missing else ""), flush=True)

    t = time.perf_counter()
    cfg0 = build_config({"seed": args.seed, "embedding": {"model": "static-minilm"}, "views": {"use": views}})
    table = run_pipeline([pool_file], work / "run", cfg0, target=val_file, stop_after="score", force=True).table
    table = table.drop(columns=[c for c in ("score", "selected", "reason", "kept_id") if c in table])
    seconds_scoring = round(time.perf_counter() - t, 1)
    print(f"[{name}] scored in {seconds_scoring} s", flush=True)

    texts = lambda rows: [r["text"] for r in rows]  # noqa: E731
    labels = lambda rows: [r["label"] for r in rows]  # noqa: E731
    static = tuple(embed_examples(x, "static-minilm") for x in (pool, val, test))
    models = eval_models(args.eval_models, texts(pool_rows), texts(val_rows), texts(test_rows), labels(pool_rows),
                         labels(val_rows), labels(test_rows), static, Path(args.work) / "embeddings",
                         per_subset=args.per_subset_C, fixed={"tfidf": args.tfidf_C, "mlp": args.mlp_alpha})
    return Prepared(work=work, pool=pool, val=val, val_file=val_file, test_size=len(test), views=views,
                    missing=missing, table=table, cfg0=cfg0, models=models, evaluator=Evaluator(pool, models, noisy),
                    seconds_scoring=seconds_scoring)


def run_dataset(name: str, args, data: Path) -> dict:
    from sft_select.pipelines.in_memory import weight_specs
    from sft_select.selection.finalize import finalize
    from sft_select.selection.strategies import Context
    from sft_select.tune.loop import load_validation, tune_table

    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    p = prepare(name, args, data)
    work, pool, views, table, cfg0, val_file, models, ev = (
        p.work, p.pool, p.views, p.table, p.cfg0, p.val_file, p.models, p.evaluator)
    res: dict = {"dataset": name, "pool": len(pool), "validation": len(p.val), "test": p.test_size,
                 "views": views, "views_missing": p.missing, "noise_tracked": int(ev.noisy.sum()), "methods": {},
                 "eval_models": {}, "proxy": ",".join(args.proxy), "load_start": load_start,
                 "seconds_scoring": p.seconds_scoring}
    res["eval_models"] = {m.name: {"C": "per subset" if m.per_subset else m.C, "validation_acc_by_C": m.C_scores,
                                   "parameter": "alpha" if m.kind == "mlp" else "C"} for m in models}
    names = [m.name for m in models]
    m = res["methods"]

    def show(method: str, r: dict) -> None:
        print(f"[{name}] {method:44s} n={r['size']:5d} " + " ".join(f"{k} {r[k]:.4f}" for k in names)
              + (f" noisy {r['noisy_share']:.3f}" if "noisy_share" in r else ""), flush=True)

    if not args.no_pool_rows:  # fraction-independent: a second invocation for other fractions may skip them
        m["whole pool"] = {"all": ev([ex.id for ex in pool])}
        show("whole pool", m["whole pool"]["all"])
        m["cleanlab filter"] = {"all": ev(cleanlab_filter(pool, args.seed))}
        show("cleanlab filter", m["cleanlab filter"]["all"])
    ids_sorted = sorted(ex.id for ex in pool)
    ctx = Context.of(pool, "static-minilm")
    specs = weight_specs(build_config({"views": {"use": views}}), views)

    def pick(weights: dict[str, float], select_cfg) -> list[str]:
        sp = [replace(s_, weight=float(weights.get(s_.name, 0.0))) for s_ in specs]
        t_, _ = finalize(table, sp, select_cfg, keep="best", weights_policy="normalize", seed=args.seed, ctx=ctx)
        return t_.loc[t_["selected"].astype(bool), "id"].tolist()

    validation = load_validation(val_file, cfg0)
    for frac in args.fractions:
        key = f"{int(frac * 100)}%"
        n = int(round(frac * len(pool)))
        rnd = [ev([ids_sorted[i] for i in np.random.default_rng(s_).choice(len(pool), n, replace=False)])
               for s_ in range(args.seed + 1, args.seed + 4)]
        m.setdefault("random (3 seeds)", {})[key] = mean_runs(rnd, names)
        show(f"random {key}", m["random (3 seeds)"][key])
        for strategy in args.strategies:
            cfg = build_config(ours_config(args, views, frac, strategy))
            variants = [] if args.no_tune else [(f"ours tuned ({strategy})", views, strategy)]
            if strategy == "coverage" and args.label_weights and "quality_label" in views and not args.no_tune:
                # The weights fixed to quality_label (label trust decides the trim), the loop choosing only the
                # coverage settings (trim, mix, order): the weight search cannot move the trim onto views that
                # say nothing about labels.
                variants.append(("ours tuned (coverage, quality_label weight, settings by the loop)",
                                 ["quality_label"], "coverage-ql"))
            # A further proxy runs only the first strategy's main loop (its strategy choice included), named
            # after it ("… [mlp proxy]"): the proxies are compared on the loop a user runs by default.
            first = [(label, names_, tag, args.proxy[0]) for label, names_, tag in variants]
            if variants and strategy == args.strategies[0]:
                label, names_, tag = variants[0]
                first += [(f"{label} [{proxy} proxy]", names_, f"{tag}-{proxy}", proxy) for proxy in args.proxy[1:]]
            variants = first
            for label, names_, tag, proxy in variants:
                t = time.perf_counter()
                cfg_p = build_config(ours_config(args, views, frac, strategy, proxy))
                tuned_result, tuned_cfg = tune_table(table, pool, cfg_p, validation, names_, validation_path=val_file)
                rep = tuned_result.report
                (work / f"tune-{tag}-{key[:-1]}pct.json").write_text(json.dumps(rep, indent=1))
                w = {k: v for k, v in tuned_result.weights.items()}
                m.setdefault(label, {})[key] = {
                    **ev(pick(w, tuned_cfg.select)), "weights": rep["best"]["weights"],
                    "threshold": rep["best"]["threshold"], "f_tune": rep["best"]["f"],
                    # tune.json names settings by dotted path (select.<strategy>.<setting>)
                    **{k: (rep.get("settings") or {}).get(d) for k, d in (
                        ("group_trim", "coverage.trim"), ("cover_mix", "coverage.mix"),
                        ("group_order", "coverage.order"))},
                    "strategy": rep.get("strategy"),
                    "active": {k: v for k, v in (rep.get("settings") or {}).items() if k.startswith("active.")} or None,
                    "f_holdout": rep["best"]["f_holdout"],
                    "random_f_holdout": rep["baselines"]["random_mean"]["f_holdout"],
                    "whole_f_holdout": rep["baselines"]["whole_pool"]["f_holdout"],
                    "seconds_tune": round(time.perf_counter() - t, 1)}
                chosen = rep.get("strategy") or strategy
                show(f"{label} {key}" + (f" → {chosen}" if chosen != strategy else ""), m[label][key])
                if rep.get("active"):
                    print(f"[{name}]   active settings chosen: {rep['active']}", flush=True)
            base = cfg.select.model_copy(update={"threshold": None})
            m.setdefault(f"ours untuned ({strategy}, equal weights)", {})[key] = ev(pick({v: 1.0 for v in views}, base))
            show(f"untuned {strategy} {key}", m[f"ours untuned ({strategy}, equal weights)"][key])
            if strategy == "coverage" and "quality_label" in views:
                label = "coverage by quality_label alone (untuned)"
                m.setdefault(label, {})[key] = ev(pick({"quality_label": 1.0}, base))
                show(f"{label} {key}", m[label][key])
        top_cfg = build_config({"select": {"fraction": frac, "strategy": "top"}}).select
        for v in views if not args.no_top_n else []:
            m.setdefault(f"top-N by {v}", {})[key] = ev(pick({v: 1.0}, top_cfg))
            show(f"top-N by {v} {key}", m[f"top-N by {v}"][key])
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["load_end"] = os.getloadavg()[0]
    return res


def markdown(results: list[dict], fractions: list[float]) -> str:
    keys = [f"{int(f * 100)}%" for f in fractions]
    lines = []
    for res in results:
        noisy = res["noise_tracked"] > 0
        models = list(res["eval_models"])
        cs = ", ".join(f"{k} {v.get('parameter', 'C')}={v['C']}" for k, v in res["eval_models"].items())
        lines.append(f"\n**{res['dataset']}** — pool {res['pool']}, validation {res['validation']}, "
                     f"test {res['test']}; tune proxy {res.get('proxy', 'logreg')}; eval models: {cs}; "
                     f"{res['seconds']} s, load "
                     f"{res['load_start']:.1f} → {res['load_end']:.1f}\n")
        head = ["method"]
        for k in keys:
            head += [f"{k}: size"] + [f"{k}: {mn}" for mn in models] + ([f"{k}: noisy in S"] if noisy else [])
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for method, by in res["methods"].items():
            # The loop may switch strategy (tune.strategies): the row says what it chose, and active's settings.
            chose = [" ".join(([f"→ {r['strategy']}"] if r.get("strategy") else [])
                              + ([", ".join(f"{a[7:]} {v}" for a, v in r["active"].items())]
                                 if r.get("active") else []))
                     for k in keys if (r := by.get(k)) and (r.get("strategy") or r.get("active"))]
            cells = [method + "".join(f" ({c})" for c in chose)]
            for k in keys:
                r = by.get(k) or by.get("all")
                if r is None:
                    cells += [""] * (1 + len(models) + noisy)
                    continue
                cells.append(str(r["size"]))
                cells += [f"{r[mn]:.4f}" + (f" ± {r[mn + '_sd']:.4f}" if f"{mn}_sd" in r else "")
                          + (f" (C={r[mn + '_C']:g})" if f"{mn}_C" in r else "") for mn in models]
                if noisy:
                    cells.append(f"{r.get('noisy_share', 0):.3f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="20news,20news-noisy,imdb")
    ap.add_argument("--fractions", default="0.2,0.5")
    ap.add_argument("--strategies", default="coverage,quota",
                    help="selection strategies for ours, each tuned on its own "
                    "(coverage, quota, active, top, greedy, facility)")
    ap.add_argument("--eval-models", default="static,tfidf",
                    help="eval models, each trained on every subset: static (the tune proxy: LR on static-minilm), "
                    "tfidf (LR on word TF-IDF), minilm (LR on full all-MiniLM-L6-v2 embeddings; ~60 texts/s to embed)")
    ap.add_argument("--group-trim", type=float, default=0.3, help="coverage: share of each class trimmed by score")
    ap.add_argument("--trims", default="", help="coverage: group_trim values the tune loop tries, e.g. 0,0.15,0.3")
    ap.add_argument("--mixes", default="", help="coverage: cover_mix values the tune loop tries with the trims, "
                    "e.g. 0,0.1,0.3,1")
    ap.add_argument("--orders", default="", help="coverage: group_order values the tune loop tries with the trims "
                    "(cover = facility location), e.g. cover,difficulty_margin")
    ap.add_argument("--tune-strategies", default="", help="tune.strategies: strategies the loop also tries last "
                    "and may switch to, e.g. active (the row keeps its configured strategy's name)")
    ap.add_argument("--active-seeds", default="", help="active: active_seed values the tune loop tries, e.g. 0.1,0.2")
    ap.add_argument("--active-batches", default="", help="active: active_batch values the loop tries, e.g. 0.01,0.03")
    ap.add_argument("--active-skips", default="", help="active: active_skip values the loop tries, e.g. 0,0.5,1")
    ap.add_argument("--active-Cs", default="", help="active: active_C values the loop tries, e.g. 0.3,1,3")
    ap.add_argument("--active-scores", default="", help="active: active_score values the loop tries (margin,label)")
    ap.add_argument("--label-weights", action="store_true",
                    help="coverage: also tune with the weights fixed to quality_label (the loop picks trim, mix, "
                    "order)")
    ap.add_argument("--proxy", default="logreg",
                    help="the tune loop's proxy classifiers, comma-separated (evaluate.classifier.model; the first "
                    "runs every loop, a further one the first strategy's main loop, in rows named "
                    "'[<proxy> proxy]'): logreg (logistic "
                    "regression on static-minilm) or mlp (a network on the same features that fits S, flipped "
                    "labels included, like the mlp eval model)")
    ap.add_argument("--tfidf-C", type=float, default=None, help="tfidf eval model: this C instead of choosing it "
                    "on validation")
    ap.add_argument("--mlp-alpha", type=float, default=None, help="mlp eval model: this alpha instead of choosing "
                    "it on validation")
    ap.add_argument("--holdout", type=float, default=0.3, help="tune: share of the validation split held out")
    ap.add_argument("--per-subset-C", action="store_true",
                    help="tfidf/minilm: choose the eval model's C for every subset on the validation split")
    ap.add_argument("--no-pool-rows", action="store_true", help="skip the whole-pool and cleanlab rows (the same "
                    "for every fraction)")
    ap.add_argument("--no-top-n", action="store_true", help="skip the top-N-by-one-view baselines")
    ap.add_argument("--no-tune", action="store_true", help="skip the tune loop's rows (ours tuned): e.g. for "
                    "active, whose order the weights do not set")
    ap.add_argument("--choose", default="best", help="tune: best (highest f) or one_se (1-standard-error rule)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--out", default="case_study.json")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: only the first rows of each split")
    args = ap.parse_args(argv)
    args.fractions = [float(x) for x in args.fractions.split(",")]
    args.strategies = [x for x in args.strategies.split(",") if x]
    args.tune_strategies = [x for x in args.tune_strategies.split(",") if x]
    args.trims = [float(x) for x in args.trims.split(",") if x]
    args.mixes = [float(x) for x in args.mixes.split(",") if x]
    args.orders = [None if x == "cover" else x for x in args.orders.split(",") if x]
    args.eval_models = [x for x in args.eval_models.split(",") if x]
    args.proxy = [x for x in args.proxy.split(",") if x]
    if not args.proxy or set(args.proxy) - {"logreg", "mlp"}:
        ap.error("--proxy: one or more of logreg, mlp")
    for k in ("active_seeds", "active_batches", "active_skips", "active_Cs"):
        setattr(args, k, [float(x) for x in getattr(args, k).split(",") if x])
    args.active_scores = [x for x in args.active_scores.split(",") if x]
    args.work = args.work or tempfile.mkdtemp(prefix="sft-case-")
    return args


def main() -> None:
    args = parse_args()
    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA); nothing to do")
        return
    results = [run_dataset(name.strip(), args, data) for name in args.datasets.split(",") if name.strip()]
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results, args.fractions))


if __name__ == "__main__":
    main()
