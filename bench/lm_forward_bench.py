"""LM views' forward throughput on CPU (not a test): `compute_stats` on a fixed Dolly sample, timed in CPU
seconds and wall seconds, the statistics saved so two source trees can be compared number for number.

Run it alternately against two trees (e.g. `git archive <commit> src | tar -x -C /tmp/before`) in fresh
processes; on a shared machine read the CPU seconds, which the load moves far less than the wall time:

    THREADS=1 python bench/lm_forward_bench.py --src /tmp/before/src --out /tmp/before.npy --n 24
    THREADS=1 python bench/lm_forward_bench.py --src src --out /tmp/after.npy --n 24
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to time")
    ap.add_argument("--out", type=Path, required=True, help="the statistics rows, as .npy")
    ap.add_argument("--n", type=int, default=24, help="Dolly examples (seeded sample)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.src))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from sft_select.core.paths import shared_data
    from sft_select.io.load import load
    from sft_select.models.lm.loader import get_lm
    from sft_select.models.lm.stats import compute_stats, encode, token_count

    if int(os.environ.get("THREADS", "0")):
        torch.set_num_threads(int(os.environ["THREADS"]))
    data = shared_data()
    if data is None:
        print("shared data not found (../shared/data or $SFT_SELECT_DATA): nothing to benchmark")
        return
    pool = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    sample = random.Random(0).sample(pool, args.n)
    lm = get_lm("smollm2-135m", device="cpu", dtype="float32")
    compute_stats(lm, sample[:2], max_tokens=512, batch_tokens=256)  # warm-up, untimed
    tokens = token_count(encode(lm, sample, 512))
    wall, cpu = time.perf_counter(), time.process_time()
    stats = compute_stats(lm, sample, max_tokens=512, batch_tokens=256)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    np.save(args.out, stats)
    print(f"{args.src}: {args.n} examples, {tokens} tokens, wall {wall:.2f} s ({tokens / wall:.0f} tokens/s), "
          f"cpu {cpu:.1f} s ({tokens / cpu:.0f} tokens per CPU-second), threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
