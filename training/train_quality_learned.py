"""Rebuild the shipped quality_learned model (src/sft_select/views/data/quality_learned.npz) from the
AlpacaEval judgments in ../shared/data, deterministically (no random draw; the held-out split is a hash).

The fit is a length-controlled Bradley-Terry logistic regression over judgments (answer a, reference r,
preference y = P(a better than r) in [0, 1]):

    logit P = w . (z(a) - z(r)) + sum_j [judge = j] (b_j + h_j . (B(len a) - B(len r)))

z: standardized `pair_features`; B: a piecewise-linear basis of log length (its own term per judge, the
two judges pay differently for length). The score is w . z alone: the length terms and intercepts are
dropped. Then w is decorrelated from log length on the training answers (`--decorrelate`, on by default):
the features can still tell length apart (a long answer's mean embedding drifts), so the part of w that
linearly predicts log length is removed until cov(score, log length) = 0.

  python training/train_quality_learned.py                  # all judgments -> the shipped file
  python training/train_quality_learned.py --split train --out /tmp/ql_train.npz   # held-out evaluation
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.paths import shared_data  # noqa: E402
from sft_select.views.quality_learned import (FORMAT, MODEL_VERSION, SHIPPED, STATS, joined,  # noqa: E402
                                              pair_features)

EMBEDDER = "static-minilm"
REFERENCES = ("gpt4_1106_preview", "text_davinci_003")  # the judges' reference generators: always train
JUDGES = {"weighted_alpaca_eval_gpt4_turbo": 0, "alpaca_eval_gpt4": 1, "alpaca_eval_gpt4_0613": 1}
HELD_OUT = 0.2
LAMBDAS = (1e-2, 3e-2, 1e-1, 3e-1)  # L2 on w, picked by judge log-loss on 20% of the training instructions
PROBES = ("The capital of France is Paris.", "def add(a, b):\n    return a + b", "I'm sorry, I cannot help.")


def _hash01(key: str, salt: str) -> float:
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:12], 16) / 16 ** 12


def load_alpaca(data: Path) -> tuple[list[dict], dict]:
    """Outputs (rows of outputs.jsonl.gz) and the judgments as arrays over output positions."""
    folder = data / "alpaca_eval_judgments"
    with gzip.open(folder / "outputs.jsonl.gz", "rt") as fh:
        outputs = [json.loads(line) for line in fh]
    at = {o["id"]: i for i, o in enumerate(outputs)}
    ans, ref, y, judge, model = [], [], [], [], []
    with gzip.open(folder / "judgments.jsonl.gz", "rt") as fh:
        for line in fh:
            j = json.loads(line)
            pref = j["preference"]
            if pref is None or not 1.0 <= pref <= 2.0:  # 184 rows of 0.0: no verdict
                continue
            ans.append(at[j["output_id"]])
            ref.append(at[j["reference_id"]])
            y.append(pref - 1.0)
            judge.append(JUDGES[j["annotator"]])
            model.append(j["model"])
    table = {"ans": np.array(ans), "ref": np.array(ref), "y": np.array(y), "judge": np.array(judge),
             "model": np.array(model)}
    return outputs, table


def split(outputs: list[dict], table: dict, salt: str = "ql-split-1") -> dict[str, np.ndarray]:
    """Masks over judgments: train (train instruction and train model), test (held-out instruction and
    held-out model, answer text never in train), and the held-out sets. Membership is a hash of the name,
    so the split is the same on every machine."""
    instr = np.array([o["instruction"] for o in outputs])
    models = sorted(set(table["model"].tolist()) - set(REFERENCES))
    held_models = {m for m in models if _hash01(m, salt + "m") < HELD_OUT}
    held_instr = {t for t in set(instr.tolist()) if _hash01(t, salt + "i") < HELD_OUT}
    i_held = np.isin(instr[table["ans"]], list(held_instr))
    m_held = np.isin(table["model"], list(held_models))
    train = ~i_held & ~m_held
    seen = {outputs[i]["output"] for i in np.unique(np.r_[table["ans"][train], table["ref"][train]])}
    fresh = np.array([outputs[i]["output"] not in seen for i in table["ans"]])
    return {"train": train, "test": i_held & m_held & fresh, "held_models": np.array(sorted(held_models)),
            "held_instructions": np.array(sorted(held_instr))}


def answer_features(outputs: list[dict], cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """pair_features of every output with its instruction, and log(1 + characters) of each output."""
    from sft_select.embed import get_embedder

    model = get_embedder(EMBEDDER)
    code = Path(sys.modules[pair_features.__module__].__file__).read_bytes()  # the features' code
    key = hashlib.sha256(json.dumps([model.fingerprint, hashlib.sha256(code).hexdigest(), len(outputs),
                                     outputs[0]["id"], outputs[-1]["id"]]).encode()).hexdigest()[:16]
    path = cache / f"features-{key}.npy" if cache else None
    prompts = [o["instruction"] for o in outputs]
    answers = [o["output"] for o in outputs]
    if path is not None and path.exists():
        F = np.load(path, allow_pickle=False)
    else:
        t = time.time()
        content = model.encode([joined(p, a) for p, a in zip(prompts, answers)])
        distinct = sorted(set(prompts))
        pv = model.encode(distinct)
        where = {p: i for i, p in enumerate(distinct)}
        F = pair_features(prompts, answers, content, pv[[where[p] for p in prompts]])
        print(f"features of {len(outputs)} answers in {time.time() - t:.0f} s", file=sys.stderr)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, F, allow_pickle=False)
    return F, np.log1p(np.array([len(a) for a in answers], dtype=np.float64))


def length_basis(L: np.ndarray, knots: np.ndarray) -> np.ndarray:
    return np.hstack([L[:, None], np.maximum(L[:, None] - knots[None, :], 0.0)])


def _fit_bt(Z: np.ndarray, L: np.ndarray, knots: np.ndarray, table: dict, rows: np.ndarray, lam: float) -> np.ndarray:
    """Parameters [w (d), per judge: b_j, h_j] minimizing the soft-label log-loss + lam/2 |w|^2."""
    from scipy.optimize import minimize

    a, r, y, g = (table[k][rows] for k in ("ans", "ref", "y", "judge"))
    D = Z[a] - Z[r]
    Bd = length_basis(L[a], knots) - length_basis(L[r], knots)
    judges = int(table["judge"].max()) + 1
    nuis = np.hstack([np.hstack([(g == j)[:, None], (g == j)[:, None] * Bd]) for j in range(judges)])
    X = np.hstack([D, nuis])
    d, n = Z.shape[1], len(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = X @ theta
        ll = np.logaddexp(0.0, t) - y * t
        p = 0.5 * (1.0 + np.tanh(0.5 * t))  # sigmoid without overflow
        grad = X.T @ (p - y) / n
        grad[:d] += lam * theta[:d]
        return float(ll.mean() + 0.5 * lam * theta[:d] @ theta[:d]), grad

    res = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return res.x


def judge_logloss(theta: np.ndarray, Z: np.ndarray, L: np.ndarray, knots: np.ndarray, table: dict,
                  rows: np.ndarray) -> float:
    a, r, y, g = (table[k][rows] for k in ("ans", "ref", "y", "judge"))
    d = Z.shape[1]
    Bd = length_basis(L[a], knots) - length_basis(L[r], knots)
    k = Bd.shape[1] + 1
    t = (Z[a] - Z[r]) @ theta[:d]
    for j in np.unique(g):
        nu = theta[d + j * k: d + (j + 1) * k]
        t[g == j] += nu[0] + Bd[g == j] @ nu[1:]
    return float(np.mean(np.logaddexp(0.0, t) - y * t))


def train(F: np.ndarray, L: np.ndarray, outputs: list[dict], table: dict, rows: np.ndarray,
          decorrelate: bool = True, length_control: bool = True, log=print) -> dict:
    """The model file's arrays and meta, fitted on the judgments `rows` (a boolean mask).
    `length_control=False` (an ablation for the evaluation): no length terms, no decorrelation."""
    decorrelate = decorrelate and length_control
    L_fit = L if length_control else np.zeros_like(L)  # a constant length: its terms are all zero
    used = np.unique(np.r_[table["ans"][rows], table["ref"][rows]])
    mean, scale = F[used].mean(axis=0), F[used].std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (F - mean) / scale
    knots = np.quantile(L_fit[used], [0.1, 0.25, 0.5, 0.75, 0.9])
    # lambda by the judge's log-loss on 20% of the training instructions (a hash, like the split)
    instr = np.array([outputs[i]["instruction"] for i in table["ans"]])
    inner = np.array([_hash01(t, "ql-inner-1") < 0.2 for t in instr]) & rows
    scores = {}
    for lam in LAMBDAS:
        theta = _fit_bt(Z, L_fit, knots, table, rows & ~inner, lam)
        scores[lam] = judge_logloss(theta, Z, L_fit, knots, table, inner)
        log(f"lambda {lam:g}: inner validation log-loss {scores[lam]:.4f}")
    lam = min(scores, key=scores.get)
    theta = _fit_bt(Z, L_fit, knots, table, rows, lam)
    d = F.shape[1]
    w = theta[:d].copy()
    Zu, Lu = Z[used], L[used] - L[used].mean()
    # The fit sees only differences between answers to one prompt, so the level of the score across prompts
    # is not learned: take out what the prompt alone predicts of it (the prompt block of z).
    pb = slice(d - (d - 1 - len(STATS)) // 3, d)  # [c, c*p, cos, STATS, p]: the last dim columns
    Zp = Zu[:, pb]
    s = Zu @ w
    w[pb] -= np.linalg.solve(Zp.T @ Zp + 1.0 * np.eye(Zp.shape[1]), Zp.T @ (s - s.mean()))
    before = float(np.corrcoef(Zu @ w, Lu)[0, 1])
    if decorrelate:
        b = np.linalg.solve(Zu.T @ Zu + 1.0 * np.eye(d), Zu.T @ Lu)  # log length predicted from z
        pred = Zu @ b
        w = w - (Zu @ w @ Lu) / (pred @ Lu) * b  # now cov(score, log length) = 0 on these answers
    after = float(np.corrcoef(Zu @ w, Lu)[0, 1])
    log(f"lambda {lam:g}; corr(score, log length) on training answers {before:+.3f} -> {after:+.3f}")
    intercept = -float(np.mean(Zu @ w))  # 0 = the mean training answer
    meta = {"format": FORMAT, "model_version": MODEL_VERSION, "embedder": EMBEDDER, "features": {
        "embedding": (d - 1 - len(STATS)) // 3, "stats": list(STATS)}, "lambda": lam,
        "decorrelated": decorrelate, "length_control": length_control, "corr_log_length_before": round(before, 4),
        "corr_log_length_after": round(after, 4), "judgments": int(rows.sum()), "answers": int(len(used)),
        "length_knots": knots.round(4).tolist(), "length_terms": theta[d:].round(4).tolist(),
        "data": "AlpacaEval judgments (tatsu-lab/alpaca_eval cd543a1), ../shared/data/alpaca_eval_judgments"}
    return {"coef": w, "intercept": np.array([intercept]), "mean": mean, "scale": scale, "meta": meta}


def save(model: dict, path: Path) -> None:
    from sft_select.embed import get_embedder

    probes = get_embedder(model["meta"]["embedder"]).encode(list(PROBES)).astype(np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # savez of plain arrays: read back with allow_pickle=False
        np.savez_compressed(fh, coef=model["coef"], intercept=model["intercept"], mean=model["mean"],
                            scale=model["scale"], probe_texts=np.array(PROBES), probe_vecs=probes,
                            meta=np.array(json.dumps(model["meta"], sort_keys=True)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("all", "train"), default="all",
                    help="all judgments (the shipped model) or the training split of bench/quality_learned_eval.py")
    ap.add_argument("--out", type=Path, default=SHIPPED)
    ap.add_argument("--no-decorrelate", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/quality_learned_cache"),
                    help="folder for the computed features (not part of the result)")
    args = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "alpaca_eval_judgments").is_dir():
        print("no ../shared/data/alpaca_eval_judgments: nothing to train on")
        return 0
    outputs, table = load_alpaca(data)
    F, L = answer_features(outputs, args.cache)
    rows = split(outputs, table)["train"] if args.split == "train" else np.ones(len(table["y"]), bool)
    model = train(F, L, outputs, table, rows, decorrelate=not args.no_decorrelate)
    model["meta"]["split"] = args.split
    save(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB; {model['meta']['judgments']} judgments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
