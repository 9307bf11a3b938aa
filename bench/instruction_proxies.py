"""How each CPU proxy for instruction data ranks subsets against an external judge (not a test).

Pool: AlpacaEval answers (shared/data/alpaca_eval_judgments) that the judge weighted_alpaca_eval_gpt4_turbo
compared with GPT-4-Turbo's own answer; an answer's quality = its preference - 1 = P(better than the
reference). The 805 instructions are split by a seeded draw: 20% are validation instructions (their rows:
the reference answers, or with --val-rows best the best-judged answer), the rest pool instructions, whose
judged answers (sampled to --pool rows) are the pool. No validation instruction is in the pool.

A family of ~30 subsets, all of 20% of the pool (coverage never falls when rows are added, so sizes are
equal): random draws; the top or bottom by judged quality mixed with random rows at several shares; rows
from few instructions or one answer per instruction; by length; by generator tier; by AlpacaEval subset;
and crossings of quality with instruction count, so that quality and coverage do not move together.
For each subset S: (a) truth = the judge's mean quality over S; (b) the share of the pool's distinct
instructions S covers; (c) each proxy's f(S): coverage of the validation rows (sft_select.evaluate.
proxy_coverage, field prompt / response / full, k 1 and 5) and the mean quality_heuristic score over S.
Printed: Spearman of each proxy against (a) and against (b) over the family; saved: every figure (--out).

Usage: python bench/instruction_proxies.py [--pool 8000] [--seed 0] [--embedder static-minilm]
           [--val-rows reference|best] [--out /tmp/instruction_proxies.json]
Reads ../shared/data (or $SFT_SELECT_DATA); exits 0 with a message when it is absent.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.core.record import Example, Turn  # noqa: E402

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
REFERENCE_GENERATOR = "gpt4_1106_preview"


@dataclass
class Judged:
    """Judged answers (one row each) and, per instruction, its reference answer."""

    instruction: list[str]
    output: list[str]
    generator: list[str]
    dataset: list[str]
    quality: np.ndarray  # preference - 1, in [0, 1]
    reference: dict[str, str]  # instruction -> the reference answer (GPT-4-Turbo's)


def load_judged(data: Path) -> Judged:
    """Every answer with a weighted_alpaca_eval_gpt4_turbo preference in [1, 2] (several judgments of one
    answer are averaged), and the reference answer of each instruction."""
    folder = data / "alpaca_eval_judgments"
    prefs: dict[str, list[float]] = {}
    ref_ids: set[str] = set()
    with gzip.open(folder / "judgments.jsonl.gz", "rt") as fh:
        for line in fh:
            j = json.loads(line)
            if j["annotator"] != ANNOTATOR or j.get("preference") is None:
                continue
            p = float(j["preference"])
            if 1.0 <= p <= 2.0:
                prefs.setdefault(j["output_id"], []).append(p - 1.0)
                ref_ids.add(j["reference_id"])
    rows: dict[str, list] = {k: [] for k in ("instruction", "output", "generator", "dataset", "quality")}
    reference: dict[str, str] = {}
    with gzip.open(folder / "outputs.jsonl.gz", "rt") as fh:
        for line in fh:
            o = json.loads(line)
            if o["id"] in ref_ids and o["generator"] == REFERENCE_GENERATOR:
                reference[o["instruction"]] = o["output"]
            q = prefs.get(o["id"])
            if q is None or not o["output"] or not o["output"].strip():
                continue
            rows["instruction"].append(o["instruction"])
            rows["output"].append(o["output"])
            rows["generator"].append(o["generator"])
            rows["dataset"].append(o["dataset"])
            rows["quality"].append(float(np.mean(q)))
    return Judged(rows["instruction"], rows["output"], rows["generator"], rows["dataset"],
                  np.asarray(rows["quality"]), reference)


@dataclass
class Split:
    pool: np.ndarray  # indices into Judged rows
    val_instructions: list[str]
    val_outputs: list[str]


def split(j: Judged, *, pool_size: int, seed: int, val_rows: str = "reference", val_share: float = 0.2) -> Split:
    """A seeded 20% of the instructions for validation; the pool: a seeded sample of the judged answers to
    the other instructions. Validation rows: each validation instruction's reference answer (`reference`)
    or its best-judged answer (`best`)."""
    instructions = sorted(set(j.instruction))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(instructions))
    n_val = int(round(val_share * len(instructions)))
    val_set = {instructions[i] for i in perm[:n_val]}
    inst = np.asarray(j.instruction, dtype=object)
    in_val = np.fromiter((s in val_set for s in j.instruction), bool, len(inst))
    candidates = np.flatnonzero(~in_val)
    pool = np.sort(rng.choice(candidates, size=min(pool_size, len(candidates)), replace=False))
    vi, vo = [], []
    for s in sorted(val_set):
        if val_rows == "reference":
            if s in j.reference:
                vi.append(s)
                vo.append(j.reference[s])
        else:
            rows = np.flatnonzero(in_val & (inst == s))
            if len(rows):
                vi.append(s)
                vo.append(j.output[rows[np.argmax(j.quality[rows])]])
    return Split(pool, vi, vo)


def example(instruction: str, output: str, tag: str, i: int) -> Example:
    """An alpaca-style example; its id names its text (embeddings are cached by id)."""
    import xxhash

    h = xxhash.xxh3_64_hexdigest((instruction + "\x00" + output).encode("utf-8", "surrogatepass"))
    return Example(id=f"ae-{h}", source=tag, row=i, format="alpaca", original={},
                   turns=(Turn("user", instruction), Turn("assistant", output)))


# -- the family of subsets ------------------------------------------------------------------------------------
def subset_family(quality: np.ndarray, inst: np.ndarray, length: np.ndarray, gen: np.ndarray, dataset: np.ndarray,
                  size: int, seed: int) -> dict[str, np.ndarray]:
    """~30 subsets of `size` rows (positions in the pool), named by how they were drawn."""
    n = len(quality)
    rng = np.random.default_rng(seed + 1000)
    out: dict[str, np.ndarray] = {}

    def fill(first: np.ndarray, rest_from: np.ndarray | None = None) -> np.ndarray:
        """`first` (in order, cut to size), topped up with random rows of `rest_from` (default: the pool)."""
        first = np.asarray(first)[:size]
        if len(first) >= size:
            return np.sort(first)
        taken = set(first.tolist())
        rest = np.asarray([i for i in (rest_from if rest_from is not None else np.arange(n)) if i not in taken])
        extra = rng.choice(rest, size=size - len(first), replace=False)
        return np.sort(np.concatenate([first, extra]))

    for s in range(6):
        out[f"random_{s}"] = np.sort(np.random.default_rng(seed + s).choice(n, size=size, replace=False))
    by_q = np.argsort(-quality, kind="stable")
    for share in (0.25, 0.5, 0.75, 1.0):
        k = int(share * size)
        out[f"top_quality_{share:.2f}+random"] = fill(by_q[:k])
        out[f"bottom_quality_{share:.2f}+random"] = fill(by_q[::-1][:k])
    # By instruction count: answers of the fewest instructions that reach |S| (drawn in a random order of
    # instructions), of m instructions, or one answer per instruction first (round robin).
    uniq = np.unique(inst)
    order = rng.permutation(len(uniq))
    rows_of = {u: np.flatnonzero(inst == u) for u in uniq}
    few = np.concatenate([rows_of[uniq[o]] for o in order])
    out["fewest_instructions"] = fill(few)
    for m_share in (0.35, 0.5, 0.7):
        m = int(m_share * len(uniq))
        allowed = np.concatenate([rows_of[uniq[o]] for o in order[:m]])
        out[f"instructions_{int(m_share * 100)}pct"] = np.sort(rng.choice(allowed, size=size, replace=False)) \
            if len(allowed) >= size else fill(allowed)
    round_robin = []
    for depth in range(max(len(r) for r in rows_of.values())):
        for o in order:
            r = rows_of[uniq[o]]
            if depth < len(r):
                round_robin.append(r[rng.integers(len(r))] if depth == 0 else r[depth])
    out["one_per_instruction_first"] = fill(np.asarray(list(dict.fromkeys(round_robin))))
    # Quality crossed with instruction count: the best answers of few instructions, the worst of many.
    for name, sign in (("best_half_of_each_instruction", -1), ("worst_half_of_each_instruction", 1)):
        halves = [rows_of[uniq[o]][np.argsort(sign * quality[rows_of[uniq[o]]], kind="stable")] for o in order]
        out[name] = fill(np.concatenate([h[:max(1, len(h) // 2)] for h in halves]))
    worst_each = np.asarray([rows_of[u][np.argmin(quality[rows_of[u]])] for u in uniq])
    best_each = np.asarray([rows_of[u][np.argmax(quality[rows_of[u]])] for u in uniq])
    out["worst_answer_per_instruction+bottom"] = fill(worst_each, by_q[::-1][:2 * size])
    out["best_answer_per_instruction+top"] = fill(best_each, by_q[:2 * size])
    few_set = np.concatenate([rows_of[uniq[o]] for o in order[:int(0.35 * len(uniq))]])
    out["top_quality_within_35pct_instructions"] = fill(few_set[np.argsort(-quality[few_set], kind="stable")])
    # By length.
    by_len = np.argsort(-length, kind="stable")
    out["longest"] = np.sort(by_len[:size])
    out["shortest"] = np.sort(by_len[::-1][:size])
    out["longest_0.50+random"] = fill(by_len[:size // 2])
    # By generator: answers of the best- or worst-judged models first.
    gens = np.unique(gen)
    gq = np.asarray([quality[gen == g].mean() for g in gens])
    top_gens = gens[np.argsort(-gq)]
    out["best_generators"] = fill(np.concatenate([rng.permutation(np.flatnonzero(gen == g)) for g in top_gens]))
    out["worst_generators"] = fill(np.concatenate([rng.permutation(np.flatnonzero(gen == g))
                                                   for g in top_gens[::-1]]))
    # By AlpacaEval subset (topic/style of the instructions): the largest subsets first, or the smallest.
    ds, counts = np.unique(dataset, return_counts=True)
    for name, seq in (("largest_subsets_first", ds[np.argsort(-counts)]), ("smallest_subsets_first",
                                                                         ds[np.argsort(counts)])):
        out[name] = fill(np.concatenate([rng.permutation(np.flatnonzero(dataset == d)) for d in seq]))
    return out


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return round(float(spearmanr(x, y).correlation), 3)


PROXIES = [("coverage_prompt_k1", "prompt", 1), ("coverage_prompt_k5", "prompt", 5),
           ("coverage_full_k1", "full", 1), ("coverage_full_k5", "full", 5),
           ("coverage_response_k1", "response", 1), ("coverage_response_k5", "response", 5)]


def run(data: Path, *, pool_size: int, seed: int, embedder: str, val_rows: str, share: float = 0.2) -> dict:
    from sft_select.evaluate.proxy_coverage import CoverageProxy
    from sft_select.views.registry import build

    t0 = time.perf_counter()
    j = load_judged(data)
    sp = split(j, pool_size=pool_size, seed=seed, val_rows=val_rows)
    pool = [example(j.instruction[i], j.output[i], "pool", k) for k, i in enumerate(sp.pool)]
    val = [example(s, o, "val", k) for k, (s, o) in enumerate(zip(sp.val_instructions, sp.val_outputs))]
    quality = j.quality[sp.pool]
    inst = np.asarray([j.instruction[i] for i in sp.pool], dtype=object)
    length = np.asarray([len(j.output[i]) for i in sp.pool])
    gen = np.asarray([j.generator[i] for i in sp.pool], dtype=object)
    dataset = np.asarray([j.dataset[i] for i in sp.pool], dtype=object)
    n_inst = len(np.unique(inst))
    size = int(round(share * len(pool)))
    family = subset_family(quality, inst, length, gen, dataset, size, seed)
    load_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    heur = np.asarray(build("quality_heuristic", {}).fit(pool).score_batch(pool).raw, dtype=float)
    heur_s = time.perf_counter() - t1
    proxies = {name: CoverageProxy(embedder=embedder, field=field, k=k) for name, field, k in PROXIES}
    rows = []
    proxy_seconds = {name: 0.0 for name in proxies}
    for label, ids in family.items():
        s = [pool[i] for i in ids]
        row = {"subset": label, "size": len(ids), "truth_quality": round(float(quality[ids].mean()), 4),
               "instruction_share": round(len(np.unique(inst[ids])) / n_inst, 4),
               "mean_length": round(float(length[ids].mean()), 1),
               "quality_heuristic": round(float(np.nanmean(heur[ids])), 4)}
        for name, p in proxies.items():
            score = p.evaluate(s, val)
            proxy_seconds[name] += score.seconds
            row[name] = round(score.value, 5)
        rows.append(row)
        print(json.dumps(row), flush=True)
    names = ["quality_heuristic", *proxies, "instruction_share", "mean_length"]
    truth = [r["truth_quality"] for r in rows]
    share_col = [r["instruction_share"] for r in rows]
    table = {name: {"spearman_vs_truth": spearman([r[name] for r in rows], truth),
                    "spearman_vs_instruction_share": spearman([r[name] for r in rows], share_col)}
             for name in names}
    return {
        "setup": {"pool": len(pool), "pool_instructions": n_inst, "validation_rows": len(val),
                  "validation_kind": val_rows, "subset_size": size, "subsets": len(family), "seed": seed,
                  "embedder": embedder, "annotator": ANNOTATOR,
                  "judged_answers": len(j.quality), "pool_mean_quality": round(float(quality.mean()), 4)},
        "spearman": table,
        "subsets": rows,
        "seconds": {"load_and_draw": round(load_s, 1), "quality_heuristic_pool": round(heur_s, 1),
                    **{f"{k}_total": round(v, 2) for k, v in proxy_seconds.items()},
                    "total": round(time.perf_counter() - t0, 1)},
    }


def markdown(res: dict) -> str:
    s = res["setup"]
    lines = [f"pool {s['pool']} judged answers to {s['pool_instructions']} instructions; validation "
             f"{s['validation_rows']} rows ({s['validation_kind']} answers to held-out instructions); "
             f"{s['subsets']} subsets of {s['subset_size']}; embedder {s['embedder']}; seed {s['seed']}", "",
             "| proxy | Spearman vs judge's mean quality | Spearman vs instruction share |", "|---|---|---|"]
    for name, r in res["spearman"].items():
        lines.append(f"| {name} | {r['spearman_vs_truth']:+.3f} | {r['spearman_vs_instruction_share']:+.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embedder", default="static-minilm")
    ap.add_argument("--val-rows", choices=["reference", "best"], default="reference")
    ap.add_argument("--out", default="/tmp/instruction_proxies.json")
    a = ap.parse_args()
    data = shared_data()
    if data is None or not (data / "alpaca_eval_judgments").is_dir():
        print("shared data (alpaca_eval_judgments) not found: nothing to measure")
        return
    res = run(data, pool_size=a.pool, seed=a.seed, embedder=a.embedder, val_rows=a.val_rows)
    res["command"] = "python bench/instruction_proxies.py " + " ".join(sys.argv[1:])
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(markdown(res))
    print(f"\nsaved {a.out}; {res['seconds']['total']} s")


if __name__ == "__main__":
    main()
