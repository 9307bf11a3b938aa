"""Tokens/s of `sequence_losses` by batch size against a one-by-one loop, on the same Dolly sequences
(not a test). Used to pick the CPU default of `batch_tokens`; see docs/benchmarks.md "LM views".

    T=1 python bench/lm_batch_sweep.py   # T: torch CPU threads (default 1)
"""
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.io.load import load  # noqa: E402
from sft_select.models.lm.forward import sequence_losses  # noqa: E402
from sft_select.models.lm.loader import get_lm  # noqa: E402
from sft_select.models.lm.stats import encode  # noqa: E402


def main() -> None:
    data = shared_data()
    if data is None:
        print("shared data not found: nothing to benchmark")
        return
    torch.set_num_threads(int(os.environ.get("T", "1")))
    lm = get_lm("smollm2-135m", device="cpu")
    pool = load([data / "dolly_3k_categories" / "dolly_3k.json.gz"]).examples
    seqs = []
    for e in filter(None, encode(lm, random.Random(1).sample(pool, 20), 512)):
        seqs += [(e.with_prompt + e.response, len(e.with_prompt)),
                 (e.without_prompt + e.response, len(e.without_prompt))]
    tokens = sum(len(s[0]) for s in seqs)
    print(f"{len(seqs)} sequences, {tokens} tokens, threads {torch.get_num_threads()}")

    def naive() -> None:
        for ids, c in seqs:
            t = torch.tensor([ids])
            with torch.inference_mode():
                F.cross_entropy(lm.model(input_ids=t).logits[0, c - 1:-1], t[0, c:])

    def timed(name, fn) -> None:
        start = time.perf_counter()
        fn()
        dt = time.perf_counter() - start
        print(f"{name:28s} {dt:7.2f}s {tokens / dt:7.0f} tokens/s  load {os.getloadavg()[0]:.1f}", flush=True)

    naive()  # warm-up
    timed("naive", naive)
    for bt in (1024, 4096, 16384):
        timed(f"ours batch_tokens={bt}", lambda bt=bt: sequence_losses(lm.model, seqs, pad_id=2, batch_tokens=bt))
        timed("  same, no shared prefix", lambda bt=bt: sequence_losses(lm.model, seqs, pad_id=2, batch_tokens=bt,
                                                                        share_prefix=False))
    timed("naive", naive)


if __name__ == "__main__":
    main()
