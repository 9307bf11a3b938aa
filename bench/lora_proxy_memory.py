"""The LoRA proxy's memory on CPU (not a test): RSS of one process through consecutive `LoRAProxy.evaluate`
fits of SmolLM2-135M on a Dolly sample, with f(S) and the losses saved so two source trees can be compared
number for number.

Run it against two trees (e.g. `git archive <commit> src | tar -x -C /tmp/before`), one fresh process each,
one after the other (not at once: they would share the machine's memory and cores):

    python bench/lora_proxy_memory.py --src /tmp/before/src --out /tmp/before.json
    python bench/lora_proxy_memory.py --src src --out /tmp/after.json

RSS is sampled every 20 ms by a thread (a fit's peak, between samples of psutil's current RSS), and the
process's high-water mark is read from getrusage (kernel-kept, exact, never falls).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


class RSS:
    """Current RSS, and the highest seen since the last `reset`, sampled by a background thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def now(self) -> float:
        return self.proc.memory_info().rss / MB

    def reset(self) -> None:
        self.peak = self.proc.memory_info().rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to measure")
    ap.add_argument("--out", type=Path, required=True, help="figures and values, as JSON")
    ap.add_argument("--train", type=int, default=2000, help="Dolly rows in S (seeded sample)")
    ap.add_argument("--validation", type=int, default=32, help="Dolly rows to score, apart from S")
    ap.add_argument("--token-budget", type=int, default=8192, help="training tokens per fit")
    ap.add_argument("--fits", type=int, default=2, help="consecutive fits (seeds 0, 1, ...)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.src))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from sft_select.core.paths import shared_data
    from sft_select.evaluate.proxy_lm import LoRAProxy
    from sft_select.io.load import load

    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to measure")
        return
    rss = RSS()
    pool = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    sample = random.Random(0).sample(pool, args.train + args.validation)
    train, val = sample[:args.train], sample[args.train:]
    proxy = LoRAProxy(token_budget=args.token_budget, max_length=256, batch_size=8, device="cpu")
    proxy._base("cpu")
    result = {"src": str(args.src), "threads": torch.get_num_threads(), "train": len(train), "validation": len(val),
              "token_budget": args.token_budget, "rss_loaded_mb": rss.now(), "fits": []}
    print(f"{args.src}: model loaded, RSS {result['rss_loaded_mb']:.0f} MB", flush=True)
    for seed in range(args.fits):
        rss.reset()
        score = proxy.evaluate(train, val, seed=seed)
        fit = {"seed": seed, "value": score.value, "metrics": score.metrics, "seconds": score.seconds,
               "peak_mb": rss.peak / MB, "rss_after_mb": rss.now(),
               "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        result["fits"].append(fit)
        print(f"  fit {seed}: f(S) {score.value:.6f}, last train loss {score.metrics['train_loss_last']:.6f}, "
              f"{score.metrics['steps']:.0f} steps, {score.seconds:.1f} s; peak {fit['peak_mb']:.0f} MB, "
              f"after {fit['rss_after_mb']:.0f} MB, process peak {fit['process_peak_mb']:.0f} MB", flush=True)
    result["base_loss"] = proxy.base_loss(val)
    result["load"] = os.getloadavg()[0]
    print(f"  base loss {result['base_loss']:.6f}; load {result['load']:.2f}")
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
