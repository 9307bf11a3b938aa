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

The guard (alpaca-lc-syn-2): a second Bradley-Terry fit over the same standardized features, on synthetic
pairs made from SYN_BASES training answers only (`corrupt`: each answer beats an answer to a different
training instruction under its prompt, a word-shuffled copy, a copy padded with a repeated fragment, a
copy cut mid-sentence at 30-60%, a noisy word salad). Its score g (scaled to unit spread over the training
answers) enters as s + GUARD_SLOPE * min(0, g - t), t = the GUARD_QUANTILE quantile of g over the
training answers. Quantile 0.02 / slope 1 was the largest penalty that kept the judge's held-out pair
accuracy of similar-length pairs above quality_heuristic's (a sweep of 0.02-0.2 x 0.5-4 on the split;
/tmp/quality-learned-notes-2.md); mixing the synthetic pairs into the judge's fit instead (weight 1)
dropped that accuracy to 0.546.

Extra rows of the judge's fit (alpaca-lc-syn-3): Self-Instruct tier pairs on half of its instructions
(`with_tiers`: the stronger model's answer beats the weaker's; no length terms) and pairs of similar-length
answers to one instruction with the preference their two verdicts imply (`with_similar_pairs`, weight 0.5).
Picked on training instructions with hash ql-val-1 < 0.2 (docs/benchmarks.md, quality_learned): tier
order 0.76 -> 0.93 there, similar-length pair accuracy and within-quartile AUROC +0.006 each.

  python training/train_quality_learned.py --split train     # the shipped file (training split only)
  python training/train_quality_learned.py --split all --out /tmp/ql_all.npz     # all judgments
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

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.views.quality_learned import FORMAT, MODEL_VERSION, SCALARS, SHIPPED, STATS, joined, pair_features  # noqa: E402

EMBEDDER = "static-minilm"
REFERENCES = ("gpt4_1106_preview", "text_davinci_003")  # the judges' reference generators: always train
JUDGES = {"weighted_alpaca_eval_gpt4_turbo": 0, "alpaca_eval_gpt4": 1, "alpaca_eval_gpt4_0613": 1}
N_JUDGES = 2
SYN_JUDGE = N_JUDGES  # the judge id of the synthetic pairs (original beats its corrupted copy)
HELD_OUT = 0.2
LAMBDAS = (1e-2, 3e-2, 1e-1, 3e-1)  # L2 on w, picked by judge log-loss on 20% of the training instructions
SYNTHETIC = ("off_topic", "shuffled", "repeated", "truncated", "noise")
SYN_BASES = 6000  # training answers that each get one copy of every kind of SYNTHETIC negative
GUARD_LAMBDA = 0.1  # L2 of the guard's fit on the synthetic pairs
GUARD_QUANTILE = 0.02  # the guard's threshold: this quantile of its score over the training answers
GUARD_SLOPE = 1.0  # score units taken off per unit of guard score below the threshold
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


def embed_pairs(prompts: list[str], answers: list[str], cache: Path | None, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """Content vectors (of prompt + answer, as a run embeds an example) and prompt vectors, cached on disk
    by the texts (not by the feature code: changing the statistics does not re-embed)."""
    from sft_select.models.embed.embedders import get_embedder

    model = get_embedder(EMBEDDER)
    h = hashlib.sha256(model.fingerprint.encode())
    for p, a in zip(prompts, answers):
        h.update(p.encode("utf-8", "surrogatepass") + b"\0" + a.encode("utf-8", "surrogatepass") + b"\1")
    path = cache / f"emb-{tag}-{h.hexdigest()[:16]}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            return z["content"], z["prompt"]
    t = time.time()
    content = model.encode([joined(p, a) for p, a in zip(prompts, answers)])
    distinct = sorted(set(prompts))
    pv = model.encode(distinct)
    where = {p: i for i, p in enumerate(distinct)}
    pvec = pv[[where[p] for p in prompts]]
    print(f"embedded {len(prompts)} {tag} answers in {time.time() - t:.0f} s", file=sys.stderr)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, content=content, prompt=pvec)
    return content, pvec


def answer_features(outputs: list[dict], cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """pair_features of every output with its instruction, and log(1 + characters) of each output."""
    prompts = [o["instruction"] for o in outputs]
    answers = [o["output"] for o in outputs]
    content, pvec = embed_pairs(prompts, answers, cache, "alpaca")
    F = pair_features(prompts, answers, content, pvec)
    return F, np.log1p(np.array([len(a) for a in answers], dtype=np.float64))


_SYMBOLS = ("~~", "]]", "[[", "%%", "##", "$$", "@@", "&&", "**", "--", "//", "||")


def corrupt(answer: str, other: str, kind: str, rng: np.random.Generator) -> str:
    """A worse copy of `answer`: `other` (an answer to a different instruction: off topic), its words
    shuffled within each line, a fragment of it repeated, the copy cut mid-sentence at 30-60% of its
    characters, or its words in a noisy order with stuttered words and stray symbols."""
    if kind == "off_topic":
        return other
    words = answer.split()
    if kind == "shuffled":
        lines = answer.split("\n")
        multi = [k for k, ln in enumerate(lines) if len(ln.split()) > 1]
        out = []
        for k, ln in enumerate(lines):
            w = ln.split()
            if k in multi:
                w = [w[j] for j in rng.permutation(len(w))]
            out.append(" ".join(w))
        return "\n".join(out) if len(multi) else " ".join(words[j] for j in rng.permutation(len(words)))
    if kind == "repeated":
        lo = int(rng.integers(0, max(len(words) - 3, 1)))
        frag = " ".join(words[lo:lo + int(rng.integers(3, 11))])
        keep = answer[:int(len(answer) * rng.uniform(0.0, 0.4))]
        reps = max(2, int((len(answer) - len(keep)) / (len(frag) + 1)))
        return (keep + " " + " ".join([frag] * reps)).strip()
    if kind == "truncated":
        cut = int(len(answer) * rng.uniform(0.3, 0.6))
        nxt = answer.find(" ", cut)
        cut = nxt if nxt > 0 else cut
        while cut < len(answer) and answer[:cut].rstrip()[-1:] in ".!?:)\n":
            nxt = answer.find(" ", cut + 1)
            cut = nxt if nxt > 0 else len(answer)
        return answer[:cut].rstrip()
    if kind == "noise":
        pick = [words[j] for j in rng.permutation(len(words))[:max(len(words) // 2, 3)]]
        out = []
        for w in pick:
            out.extend([w] * int(rng.choice([1, 1, 2, 3])))
            if rng.random() < 0.2:
                out.append(_SYMBOLS[int(rng.integers(len(_SYMBOLS)))])
        return " ".join(out)
    raise ValueError(kind)


def synthetic(outputs: list[dict], bases: np.ndarray, n: int,
              seed: int) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """Synthetic negatives of `n` answers drawn from `bases` (output positions; the training split's):
    prompts, corrupted answers, the original's position for each, and the kind."""
    rng = np.random.default_rng(seed)
    bases = np.array([i for i in bases if len(outputs[i]["output"].split()) >= 8])
    chosen = np.sort(rng.choice(bases, size=min(n, len(bases)), replace=False))
    prompts, answers, orig, kinds = [], [], [], []
    for i in chosen:
        o = outputs[i]
        while True:
            j = int(bases[rng.integers(len(bases))])
            if outputs[j]["instruction"] != o["instruction"]:
                break
        for kind in SYNTHETIC:
            bad = corrupt(o["output"], outputs[j]["output"], kind, rng)
            if bad == o["output"]:
                continue
            prompts.append(o["instruction"])
            answers.append(bad)
            orig.append(int(i))
            kinds.append(kind)
    return prompts, answers, np.array(orig), kinds


def synthetic_features(outputs: list[dict], bases: np.ndarray, n: int, seed: int, cache: Path | None):
    prompts, answers, orig, kinds = synthetic(outputs, bases, n, seed)
    content, pvec = embed_pairs(prompts, answers, cache, f"syn{seed}")
    F = pair_features(prompts, answers, content, pvec)
    return F, np.log1p(np.array([len(a) for a in answers], dtype=np.float64)), orig, np.array(kinds)


TIERS = ("davinci", "davinci-t0-ft", "davinci-superni-ft", "davinci-self-instruct",
         "davinci-self-instruct-and-superni-ft", "text-davinci-001", "text-davinci-002", "text-davinci-003")
TIER_SALT = "ql-tier-1"  # a self_instruct instruction trains when its hash is under 0.5; the rest is held out
TIER_WEIGHT = 1.0  # weight of one tier pair against one judgment (1 and 4 tried on validation instructions)


def tier_pairs(data: Path) -> dict[str, list[tuple[str, str]]]:
    """(prompt, response) of each Self-Instruct model tier, weakest tier first, instructions in file order."""
    out = {}
    for t in TIERS:
        with gzip.open(data / "self_instruct_model_tiers" / "predictions" / f"{t}_predictions.jsonl.gz", "rt") as fh:
            rows = [json.loads(line) for line in fh]
        out[t] = [((r["instruction"].strip() + ("\n\n" + r["input"].strip() if r.get("input", "").strip() else "")),
                   r["response"]) for r in rows]
    return out


def tier_train(prompt: str) -> bool:
    return _hash01(prompt, TIER_SALT) < 0.5


def with_tiers(F: np.ndarray, L: np.ndarray, table: dict, rows: np.ndarray, data: Path, cache: Path | None,
               weight: float = TIER_WEIGHT) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray, np.ndarray]:
    """The judgments plus tier pairs: for each training-half Self-Instruct instruction, each stronger tier's
    answer beats each weaker tier's (28 pairs an instruction), as rows of judge SYN_JUDGE (no intercept, no
    length terms: the tiers are not a length-biased judge). Returns features, log lengths, table, rows and
    per-row weights over the judgments and tier answers together. Why: the judges see fluent answers only,
    and the score ordered the tiers (base GPT-3 up to text-davinci-003) at Spearman 0.74 against the
    heuristic's 0.98."""
    Fs, Ls, at = [F], [L], {}
    for k, (t, pairs) in enumerate(tier_pairs(data).items()):
        keep = [i for i, (p, _) in enumerate(pairs) if tier_train(p)]
        prompts, answers = [pairs[i][0] for i in keep], [pairs[i][1] for i in keep]
        content, pvec = embed_pairs(prompts, answers, cache, f"tier-{t}-train")
        at.update({(k, i): sum(len(x) for x in Fs) + n for n, i in enumerate(keep)})
        Fs.append(pair_features(prompts, answers, content, pvec))
        Ls.append(np.log1p(np.array([len(a) for a in answers], dtype=np.float64)))
    a = [pos for (k, i), pos in at.items() for k2 in range(k)]
    r = [at[(k2, i)] for (k, i) in at for k2 in range(k)]
    n = len(a)
    tab = {"ans": np.r_[table["ans"], a], "ref": np.r_[table["ref"], r], "y": np.r_[table["y"], np.ones(n)],
           "judge": np.r_[table["judge"], np.full(n, SYN_JUDGE)], "model": np.r_[table["model"], ["tier"] * n]}
    return (np.vstack(Fs), np.concatenate(Ls), tab, np.r_[rows, np.ones(n, bool)],
            np.r_[np.ones(len(rows)), np.full(n, weight)])


SIMILAR_WEIGHT = 0.5  # of one similar-length pair against one judgment (picked on validation instructions)
SIMILAR_LOG_RATIO = float(np.log(1.25))  # "similar lengths": within 25%, as the evaluation's pair_acc_lc


def with_similar_pairs(table: dict, rows: np.ndarray, weight: np.ndarray | None, L: np.ndarray,
                       w: float = SIMILAR_WEIGHT) -> tuple[dict, np.ndarray, np.ndarray]:
    """Length residualized within the instruction: two judged answers of `rows` to one instruction, judged
    against the same reference, with lengths within 25%, become a judgment of one over the other with the
    preference their two verdicts imply (sigmoid of the difference of their logits). Length can barely
    decide such a pair, so weighting them up teaches what else the judge pays for. Returns the table, rows
    and weights with these pairs appended."""
    from collections import defaultdict

    groups = defaultdict(list)
    for k in np.flatnonzero(rows & (table["judge"] < N_JUDGES)):
        groups[(int(table["ref"][k]), int(table["judge"][k]))].append(k)
    y = np.clip(table["y"], 0.02, 0.98)
    logit = np.log(y / (1 - y))
    a, b = [], []
    for ks in groups.values():
        ks = np.array(ks)
        i, j = np.triu_indices(len(ks), 1)
        ka, kb = ks[i], ks[j]
        close = np.abs(L[table["ans"][ka]] - L[table["ans"][kb]]) <= SIMILAR_LOG_RATIO
        keep = close & (table["y"][ka] != table["y"][kb])
        a.append(ka[keep])
        b.append(kb[keep])
    a, b = np.concatenate(a), np.concatenate(b)
    n = len(a)
    extra = {"ans": table["ans"][a], "ref": table["ans"][b], "y": 1 / (1 + np.exp(logit[b] - logit[a])),
             "judge": table["judge"][a], "model": np.full(n, "similar")}
    weight = np.ones(len(rows)) if weight is None else weight
    return ({k: np.r_[table[k], extra[k]] for k in table}, np.r_[rows, np.ones(n, bool)],
            np.r_[weight, np.full(n, w)])


def length_basis(L: np.ndarray, knots: np.ndarray) -> np.ndarray:
    return np.hstack([L[:, None], np.maximum(L[:, None] - knots[None, :], 0.0)])


def _fit_bt(Z: np.ndarray, L: np.ndarray, knots: np.ndarray, table: dict, rows: np.ndarray, lam: float,
            weight: np.ndarray | None = None, start: np.ndarray | None = None) -> np.ndarray:
    """Parameters [w (d), per judge: b_j, h_j] minimizing the (weighted) soft-label log-loss + lam/2 |w|^2.
    Rows of a judge id beyond the real judges (the synthetic pairs) get no intercept and no length terms."""
    from scipy.optimize import minimize

    a, r, y, g = (table[k][rows] for k in ("ans", "ref", "y", "judge"))
    wt = np.ones(len(y)) if weight is None else weight[rows]
    wt = wt / wt.sum()
    D = Z[a] - Z[r]
    Bd = length_basis(L[a], knots) - length_basis(L[r], knots)
    nuis = np.hstack([np.hstack([(g == j)[:, None], (g == j)[:, None] * Bd]) for j in range(N_JUDGES)])
    X = np.hstack([D, nuis])
    d = Z.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = X @ theta
        ll = np.logaddexp(0.0, t) - y * t
        p = 0.5 * (1.0 + np.tanh(0.5 * t))  # sigmoid without overflow
        grad = X.T @ (wt * (p - y))
        grad[:d] += lam * theta[:d]
        return float(wt @ ll + 0.5 * lam * theta[:d] @ theta[:d]), grad

    x0 = np.zeros(X.shape[1]) if start is None else start  # a warm start: the same optimum, fewer steps
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
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
          decorrelate: bool = True, length_control: bool = True, log=print, syn: tuple | None = None,
          guard_quantile: float = GUARD_QUANTILE, guard_slope: float = GUARD_SLOPE,
          weight: np.ndarray | None = None) -> dict:
    """The model file's arrays and meta, fitted on the judgments `rows` (a boolean mask), and the guard
    fitted on the synthetic pairs `syn` (`synthetic_features` of training answers: each original beats
    its corrupted copy). `length_control=False` (an ablation for the evaluation): no length terms, no
    decorrelation."""
    weight = np.ones(len(rows)) if weight is None else weight
    decorrelate = decorrelate and length_control
    L_fit = L if length_control else np.zeros_like(L)  # a constant length: its terms are all zero
    real = rows & (table["judge"] < N_JUDGES)
    used = np.unique(np.r_[table["ans"][real], table["ref"][real]])  # real answers only
    mean, scale = F[used].mean(axis=0), F[used].std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (F - mean) / scale
    knots = np.quantile(L_fit[used], [0.1, 0.25, 0.5, 0.75, 0.9])
    # lambda by the judge's log-loss on 20% of the training instructions (a hash, like the split)
    instr = np.array([outputs[i]["instruction"] if i < len(outputs) else "" for i in table["ans"]])
    inner_i = {t for t in set(instr.tolist()) if _hash01(t, "ql-inner-1") < 0.2}
    inner = np.isin(instr, list(inner_i)) & rows & real  # rows of other sources (tier pairs) always fit
    scores, thetas, theta = {}, {}, None
    for lam in sorted(LAMBDAS, reverse=True):  # strongest first, each fit starting from the last one
        theta = thetas[lam] = _fit_bt(Z, L_fit, knots, table, rows & ~inner, lam, weight, start=theta)
        scores[lam] = judge_logloss(theta, Z, L_fit, knots, table, inner & real)
        log(f"lambda {lam:g}: inner validation log-loss {scores[lam]:.4f}")
    lam = min(scores, key=scores.get)
    theta = _fit_bt(Z, L_fit, knots, table, rows, lam, weight, start=thetas[lam])
    d = F.shape[1]
    w = theta[:d].copy()
    Zu, Lu = Z[used], L[used] - L[used].mean()
    # The fit sees only differences between answers to one prompt, so the level of the score across prompts
    # is not learned: take out what the prompt alone predicts of it (the prompt block of z).
    emb = (d - SCALARS) // 3
    pb = slice(d - emb, d)  # [c, c*p, cos, cos_a, STATS, p]: the last emb columns
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
    guard = {}
    if syn is not None:
        # The guard: a Bradley-Terry fit on the synthetic pairs alone (the original beats its corrupted copy),
        # whose score only ever lowers the judge's: score = s + slope * min(0, g - threshold), threshold =
        # a low quantile of g over the training answers, g in units of its spread there. Mixed into the
        # judge's fit instead, the synthetic pairs (easy to separate) took over the score: the judge's own
        # held-out pair accuracy of similar-length pairs fell from 0.676 to 0.546.
        Fs, _, orig, _ = syn
        Zs = (Fs - mean) / scale
        Zg = np.vstack([Z, Zs])
        gt = {"ans": orig, "ref": len(Z) + np.arange(len(Zs)), "y": np.ones(len(Zs)),
              "judge": np.full(len(Zs), SYN_JUDGE)}
        v = _fit_bt(Zg, np.zeros(len(Zg)), knots, gt, np.ones(len(Zs), bool), GUARD_LAMBDA)[:d]
        gu = Zu @ v
        v = v / gu.std()
        thr = float(np.quantile(Zu @ v, guard_quantile))
        below = float(np.mean((Zs @ v) < thr))
        log(f"guard: {below:.3f} of the synthetic negatives, {guard_quantile:.3f} of the training answers "
            "below its threshold")
        guard = {"guard_coef": v, "guard_threshold": np.array([thr]), "guard_slope": np.array([guard_slope])}
    meta = {"format": FORMAT, "model_version": MODEL_VERSION, "embedder": EMBEDDER, "features": {
        "embedding": emb, "stats": list(STATS)}, "lambda": lam,
        "guard": None if syn is None else {"kinds": list(SYNTHETIC), "pairs": int(len(syn[0])),
                                           "lambda": GUARD_LAMBDA, "quantile": guard_quantile,
                                           "slope": guard_slope},
        "decorrelated": decorrelate, "length_control": length_control, "corr_log_length_before": round(before, 4),
        "corr_log_length_after": round(after, 4),
        "judgments": int((rows & (table["judge"] < N_JUDGES) & (table["model"] != "similar")).sum()),
        "answers": int(len(used)),
        "length_knots": knots.round(4).tolist(), "length_terms": theta[d:].round(4).tolist(),
        "data": "AlpacaEval judgments (tatsu-lab/alpaca_eval cd543a1), ../shared/data/alpaca_eval_judgments"}
    return {"coef": w, "intercept": np.array([intercept]), "mean": mean, "scale": scale, "meta": meta, **guard}


def training_synthetic(outputs: list[dict], table: dict, rows: np.ndarray, cache: Path | None,
                       n: int = SYN_BASES):
    """Synthetic negatives of answers in the judgments `rows` only (their off-topic answers too)."""
    bases = np.unique(np.r_[table["ans"][rows], table["ref"][rows]])
    return synthetic_features(outputs, bases, n, seed=1, cache=cache)


def save(model: dict, path: Path) -> None:
    from sft_select.models.embed.embedders import get_embedder

    probes = get_embedder(model["meta"]["embedder"]).encode(list(PROBES)).astype(np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # savez of plain arrays: read back with allow_pickle=False
        guard = {k: model[k] for k in ("guard_coef", "guard_threshold", "guard_slope") if k in model}
        np.savez_compressed(fh, coef=model["coef"], intercept=model["intercept"], mean=model["mean"],
                            scale=model["scale"], probe_texts=np.array(PROBES), probe_vecs=probes, **guard,
                            meta=np.array(json.dumps(model["meta"], sort_keys=True)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("all", "train"), default="all",
                    help="all judgments (the shipped model) or the training split of bench/quality_learned_eval.py")
    ap.add_argument("--out", type=Path, default=SHIPPED)
    ap.add_argument("--no-decorrelate", action="store_true")
    ap.add_argument("--synthetic", type=int, default=SYN_BASES,
                    help="training answers that get synthetic negatives (0: judgments only)")
    ap.add_argument("--tier-weight", type=float, default=TIER_WEIGHT,
                    help="weight of a Self-Instruct tier pair against a judgment (0: no tier pairs)")
    ap.add_argument("--similar-weight", type=float, default=SIMILAR_WEIGHT,
                    help="weight of a pair of similar-length answers to one instruction (0: none)")

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
    syn = training_synthetic(outputs, table, rows, args.cache, args.synthetic) if args.synthetic else None
    weight = None
    if args.tier_weight > 0 and (data / "self_instruct_model_tiers").is_dir():
        F, L, table, rows, weight = with_tiers(F, L, table, rows, data, args.cache, args.tier_weight)
    if args.similar_weight > 0:
        table, rows, weight = with_similar_pairs(table, rows, weight, L, args.similar_weight)
    model = train(F, L, outputs, table, rows, decorrelate=not args.no_decorrelate, syn=syn, weight=weight)
    model["meta"]["tier_pairs"] = {"weight": args.tier_weight, "pairs": int((table["model"] == "tier").sum()),
                                   "instructions": f"self_instruct_model_tiers, hash {TIER_SALT} < 0.5"}
    model["meta"]["similar_length_pairs"] = {"weight": args.similar_weight,
                                             "pairs": int((table["model"] == "similar").sum())}
    model["meta"]["split"] = args.split
    save(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB; {model['meta']['judgments']} judgments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
