"""Where the wall time of one `sft-select run` goes (not a test): runs the pipeline in this process with
timing wrappers around its main steps and prints, per step: wall seconds, this process's CPU seconds and
the CPU seconds of the worker processes that ended during it. CPU seconds vary less with the machine's
load than wall seconds, so they are the figures to compare while other jobs share the CPU.

    python bench/phase_trace.py /tmp/scale/pool-100000.jsonl --target /tmp/scale/target.jsonl -n 10000 \
        [--workers auto] [--out /tmp/trace]

Steps nest (the score step contains each view's fit); each line is a step's own total, so nested lines
are parts of the line above, not additions to it. Start-up (imports) is measured before the run.
"""
from __future__ import annotations

import argparse
import importlib
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STEPS = [  # (module, attribute): functions looked up at call time through their module
    ("sft_select.io.load", "load"),
    ("sft_select.preprocess.run", "run_preprocess"),
    ("sft_select.preprocess.filters", "apply_filters"),
    ("sft_select.preprocess.exact", "link_exact"),
    ("sft_select.preprocess.near", "link_near"),
    ("sft_select.pipelines.in_memory", "base_table"),
    ("sft_select.scoring.driver", "score_all"),
    ("sft_select.views.diversity", "Diversity.fit"),
    ("sft_select.views.relevance_dsir", "RelevanceDSIR.fit"),
    ("sft_select.views.relevance_embedding", "RelevanceEmbedding.fit"),
    ("sft_select.views.quality_heuristic", "QualityHeuristic.fit"),
    ("sft_select.models.embed.embedders", "EmbeddingStore.embed"),
    ("sft_select.scoring.driver", "_score_pass"),
    ("sft_select.pipelines.in_memory", "add_scores"),
    ("sft_select.pipelines.in_memory", "finalize"),
    ("sft_select.pipelines.in_memory", "write_outputs"),
    ("sft_select.report", "report_after_run"),
    ("sft_select.report.summary", "build_summary"),
    ("sft_select.report.embedmap", "build_map"),
    ("sft_select.rundir.manifest", "write_manifest"),
]
TOTALS: dict[str, list[float]] = {}


def _children_cpu() -> float:
    """CPU seconds of the worker processes that have ended (each step's workers end with the step)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sys_cpu() -> float:
    """Kernel CPU seconds of this process and its ended workers: page faults after a fork, mmap, I/O."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime


def _wrap(label: str, fn):
    def timed(*args, **kwargs):
        w, c, k, s = time.perf_counter(), time.process_time(), _children_cpu(), _sys_cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            t = TOTALS.setdefault(label, [0.0, 0.0, 0.0, 0, 0.0])
            t[0] += time.perf_counter() - w
            t[1] += time.process_time() - c
            t[2] += _children_cpu() - k
            t[3] += 1
            t[4] += _sys_cpu() - s
    return timed


def install() -> None:
    """Wrap each step where it is defined and wherever a module imported it by name."""
    for module_name, attr in STEPS:
        module = importlib.import_module(module_name)
        owner, name = (module, attr) if "." not in attr else (getattr(module, attr.split(".")[0]), attr.split(".")[1])
        original = getattr(owner, name, None)
        if original is None:
            continue
        timed = _wrap(f"{module_name.rsplit('.', 1)[-1]}.{attr}", original)
        setattr(owner, name, timed)
        if owner is module:
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").startswith("sft_select") and getattr(other, name, None) is original:
                    setattr(other, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    ap.add_argument("--target")
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--workers", default="auto")
    ap.add_argument("--out", type=Path, default=Path("/tmp/trace"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.environ["SFT_SELECT_EMBED_CACHE"] = str(args.out) + "-embed-cache"
    shutil.rmtree(os.environ["SFT_SELECT_EMBED_CACHE"], ignore_errors=True)
    start = time.perf_counter()
    from sft_select.config.schema import build_config
    from sft_select.pipelines import in_memory as pipeline

    imports = time.perf_counter() - start
    install()
    workers = args.workers if args.workers == "auto" else int(args.workers)
    cfg = build_config({"select": {"n": args.n}, "engine": {"workers": workers, "streaming": "off"}})
    t0 = time.perf_counter()
    pipeline.run([args.pool], args.out, cfg, target=args.target, force=True)
    total = time.perf_counter() - t0
    print(f"imports {imports:.2f} s; run {total:.2f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'step':45s} {'wall s':>8s} {'cpu s':>8s} {'workers':>8s} {'calls':>6s} {'of which sys':>12s}")
    for label, (wall, cpu, kids, calls, kernel) in TOTALS.items():
        print(f"{label:45s} {wall:8.2f} {cpu:8.2f} {kids:8.2f} {calls:6d} {kernel:12.2f}")


if __name__ == "__main__":
    main()
