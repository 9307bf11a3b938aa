"""Near-duplicate dedup benchmark: sft-select (rensa MinHash-LSH + exact verification) against datasketch.

Measured in one run, on the same shingles (word n-grams after the same normalization):
- recall and precision of near-duplicate pairs against exact Jaccard ground truth (all pairs, computed
  with a sparse product of the shingle-set matrix), directly and through clusters (union-find);
- throughput (docs/s, end to end from raw text) and peak memory (VmHWM over the loaded corpus), each
  engine in a fresh subprocess so neither sees the other's memory.
Corpora: generated text with planted near-duplicates (`--n` documents), and GPTeacher-Toolformer from
../shared/data, where our semantic and near dedup are also compared with the reference tool's
kept/dropped decisions at its similarity 0.9/0.8/0.7/0.6.

    python bench/dedup_bench.py                      # 100k generated docs + GPTeacher
    python bench/dedup_bench.py --n 20000 --no-semantic
This is a benchmark script, not a test: it takes minutes (datasketch ~1-3 ms per document).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


# --- corpora -------------------------------------------------------------------------------------------

def generated_corpus(n: int, seed: int = 0, dup_share: float = 0.15) -> list[str]:
    """Zipf-ish random word documents (50-300 words); `dup_share` of them are edited copies of an earlier
    document (or of a copy: clusters of several), with 1-20% of words substituted, inserted or deleted, so
    true Jaccard spreads across the threshold."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    cdf = np.cumsum(np.arange(1, len(vocab) + 1) ** -0.7)
    cdf /= cdf[-1]

    def draw(k: int) -> np.ndarray:  # Zipf(0.7) words: common words repeat, 3-grams rarely do
        return vocab[np.minimum(np.searchsorted(cdf, rng.random(k)), len(vocab) - 1)]

    docs: list[str] = []
    for _ in range(n):
        if docs and rng.random() < dup_share:
            words = docs[int(rng.integers(len(docs)))].split()
            rate = rng.uniform(0.01, 0.2)
            for _ in range(max(1, int(rate * len(words)))):
                op, i = rng.integers(3), int(rng.integers(len(words)))
                if op == 0:
                    words[i] = draw(1)[0]
                elif op == 1:
                    words.insert(i, draw(1)[0])
                elif len(words) > 5:
                    del words[i]
            docs.append(" ".join(words))
        else:
            docs.append(" ".join(draw(int(rng.integers(50, 300)))))
    return docs


def gpteacher() -> tuple[list[str], list[str], list[dict]] | None:
    from sft_select.core.paths import shared_data

    data = shared_data()
    path = data / "gpteacher_toolformer_dedup" / "toolformer_labeled.jsonl.gz" if data else None
    if path is None or not path.exists():
        return None
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    content = ["\n\n".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in rows]
    return content, [r["output"] for r in rows], rows


# --- ground truth ---------------------------------------------------------------------------------------

def true_pairs(texts: list[str], ngram: int, threshold: float, chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) with exact shingle-set Jaccard >= threshold, and its Jaccard."""
    import scipy.sparse as sp

    from sft_select.preprocess.shingles import shingle

    sh = shingle(texts, ngram)
    vocab, inverse = np.unique(sh.hashes, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(inverse), np.float32), inverse, sh.offsets.astype(np.int64)),
                      shape=(len(texts), len(vocab)))
    x.sum_duplicates()
    x.data[:] = 1
    sizes = np.diff(x.indptr).astype(np.float64)
    xt = x.T.tocsr()
    out_p, out_j = [], []
    for s in range(0, len(texts), chunk):
        g = (x[s:s + chunk] @ xt).tocoo()
        rows = g.row + s
        keep = g.col > rows
        r, c, inter = rows[keep], g.col[keep], g.data[keep]
        j = inter / (sizes[r] + sizes[c] - inter)
        ok = j >= threshold
        out_p.append(np.stack([r[ok], c[ok]], -1))
        out_j.append(j[ok])
    return np.concatenate(out_p).astype(np.int64), np.concatenate(out_j)


# --- engines (each runs in its own process) ----------------------------------------------------------------

def _vm(field: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def engine_main(args: argparse.Namespace) -> None:
    texts = [json.loads(line) for line in open(args.corpus, encoding="utf-8")]
    # Imports before the clock and the memory baseline: they are paid once per process, not per document.
    import rensa  # noqa: F401
    import scipy.sparse  # noqa: F401
    from datasketch import MinHash, MinHashLSH

    from sft_select.preprocess.config import NearConfig
    from sft_select.preprocess.near import find_near_duplicates, pair_jaccard  # noqa: F401
    from sft_select.preprocess.shingles import token_text

    base = _vm("VmRSS:")
    start = time.perf_counter()
    stages: dict[str, float] = {}
    if args.engine == "sft-select":
        res = find_near_duplicates(texts, NearConfig(threshold=args.threshold, ngram=args.ngram,
                                                     num_perm=args.num_perm))
        pairs, stages = res.pairs, dict(res.seconds)
        extra = {"candidates": res.candidates, "bands": res.bands}
    else:
        t = time.perf_counter()
        shingles = []
        for text in texts:  # the usual datasketch pipeline: n-gram strings in Python
            w = token_text(text).split()
            grams = {" ".join(w[i:i + args.ngram]) for i in range(max(1, len(w) - args.ngram + 1))} if w else set()
            shingles.append([g.encode("utf-8") for g in grams])
        stages["shingle"] = time.perf_counter() - t
        t = time.perf_counter()
        lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
        sketches = []
        for i, grams in enumerate(shingles):
            m = MinHash(num_perm=args.num_perm)
            m.update_batch(grams)
            sketches.append(m)
            if grams:
                lsh.insert(i, m, check_duplication=False)
        stages["sketch_insert"] = time.perf_counter() - t
        t = time.perf_counter()
        found = set()
        for i, m in enumerate(sketches):
            if shingles[i]:
                found.update((min(i, j), max(i, j)) for j in lsh.query(m) if j != i)
        stages["query"] = time.perf_counter() - t
        pairs = np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
        extra = {"bands": lsh.b}
    seconds = time.perf_counter() - start
    np.save(args.result + ".npy", pairs)
    json.dump({"seconds": seconds, "stages": stages, "rss_base_mb": base, "peak_mb": _vm("VmHWM:"), **extra},
              open(args.result, "w"))


def run_engine(engine: str, corpus: Path, args: argparse.Namespace, tmp: Path) -> dict:
    result = tmp / f"{engine}.json"
    cmd = [sys.executable, __file__, "--engine", engine, "--corpus", str(corpus), "--result", str(result),
           "--threshold", str(args.threshold), "--ngram", str(args.ngram), "--num-perm", str(args.num_perm)]
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    out = json.load(open(result))
    out["pairs"] = np.load(str(result) + ".npy")
    return out


# --- metrics ----------------------------------------------------------------------------------------------

def clusters_of(pairs: np.ndarray, n: int) -> np.ndarray:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if len(pairs):
        g = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    else:
        g = sp.coo_matrix((n, n))
    return connected_components(g, directed=False)[1]


def score(found: np.ndarray, truth: np.ndarray, n: int) -> dict:
    code = lambda p: p[:, 0] * n + p[:, 1]  # noqa: E731
    f, t = set(code(found).tolist()), set(code(truth).tolist())
    hit = len(f & t)
    comp = clusters_of(found, n)
    in_cluster = int(np.count_nonzero(comp[truth[:, 0]] == comp[truth[:, 1]])) if len(truth) else 0
    return {"pairs_reported": len(f), "pair_recall": hit / max(1, len(t)), "pair_precision": hit / max(1, len(f)),
            "cluster_recall": in_cluster / max(1, len(t))}


def compare(name: str, texts: list[str], args: argparse.Namespace, tmp: Path) -> dict:
    corpus = tmp / f"{name}.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps(t) + "\n")
    t = time.perf_counter()
    truth, _ = true_pairs(texts, args.ngram, args.threshold)
    print(f"[{name}] {len(texts)} docs, {len(truth)} true pairs (ground truth in {time.perf_counter() - t:.1f}s)",
          flush=True)
    report = {"docs": len(texts), "true_pairs": len(truth), "engines": {}}
    for engine in ("sft-select", "datasketch"):
        if engine == "datasketch" and args.no_datasketch:
            continue
        r = run_engine(engine, corpus, args, tmp)
        m = score(r.pop("pairs"), truth, len(texts))
        m.update(seconds=round(r["seconds"], 2), docs_per_s=round(len(texts) / r["seconds"]),
                 peak_mb_over_corpus=round(r["peak_mb"] - r["rss_base_mb"]),
                 stages={k: round(v, 2) for k, v in r["stages"].items()},
                 **{k: v for k, v in r.items() if k in ("bands", "candidates")})
        report["engines"][engine] = m
        print(f"[{name}] {engine}: {json.dumps(m)}", flush=True)
    return report


def agreement(kept: np.ndarray, ref: np.ndarray) -> dict:
    dropped, ref_dropped = ~kept, ~ref
    both = int(np.count_nonzero(dropped & ref_dropped))
    return {"kept": int(kept.sum()), "ref_kept": int(ref.sum()), "agreement": round(float((kept == ref).mean()), 3),
            "drop_precision": round(both / max(1, int(dropped.sum())), 3),
            "drop_recall": round(both / max(1, int(ref_dropped.sum())), 3)}


def keep_first(pairs: np.ndarray, n: int) -> np.ndarray:
    comp = clusters_of(pairs, n)
    first = np.full(comp.max() + 1, n)
    np.minimum.at(first, comp, np.arange(n))
    return first[comp] == np.arange(n)


def reference_agreement(content: list[str], outputs: list[str], rows: list[dict], args: argparse.Namespace) -> dict:
    """Our decisions (keep the first of each cluster) against the reference tool's at each similarity."""
    from sft_select.preprocess.config import NearConfig
    from sft_select.preprocess.near import find_near_duplicates
    from sft_select.preprocess.semantic import similar_pairs

    out: dict = {}
    n = len(rows)
    for field, texts in (("content", content), ("response", outputs)):
        if not args.no_semantic:
            from sft_select.models.embed.embedders import get_embedder

            t = time.perf_counter()
            x = get_embedder(args.embedder).encode(texts)
            embed_s = time.perf_counter() - t
        for tau in (0.9, 0.8, 0.7, 0.6):
            ref = np.array([r[f"kept_sim_{tau}"] for r in rows])
            if not args.no_semantic:
                t = time.perf_counter()
                sem = similar_pairs(x, tau, seed=0)
                out[f"semantic/{field}/{tau}"] = dict(agreement(keep_first(sem.pairs, n), ref),
                                                      seconds=round(embed_s + time.perf_counter() - t, 2))
            for ngram in (1, 3):
                near = find_near_duplicates(texts, NearConfig(threshold=tau, ngram=ngram))
                out[f"near{ngram}/{field}/{tau}"] = agreement(keep_first(near.pairs, n), ref)
    for key, val in out.items():
        print(f"[gpteacher reference] {key}: {json.dumps(val)}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="generated documents")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--ngram", type=int, default=3)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--embedder", default="static-minilm")
    ap.add_argument("--no-datasketch", action="store_true")
    ap.add_argument("--no-semantic", action="store_true")
    ap.add_argument("--no-gpteacher", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine:
        return engine_main(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results: dict = {"settings": {"threshold": args.threshold, "ngram": args.ngram, "num_perm": args.num_perm},
                     "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.n:
            results["generated"] = compare("generated", generated_corpus(args.n), args, Path(tmp))
        g = None if args.no_gpteacher else gpteacher()
        if g is not None:
            content, outputs, rows = g
            results["gpteacher"] = compare("gpteacher", content, args, Path(tmp))
            results["gpteacher_reference"] = reference_agreement(content, outputs, rows, args)
        elif not args.no_gpteacher:
            print("shared data not found: GPTeacher part skipped", flush=True)
    results["load_after"] = os.getloadavg()
    print(json.dumps({"load_before": results["load_before"], "load_after": results["load_after"]}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
