"""How often each heuristic filter fires (default bounds) on real instruction data from ../shared/data.

Good data should almost never be dropped (dolly: human answers; GPTeacher: GPT-4; text-davinci-003),
degenerate data often (base davinci loops and rambles). Prints one line per dataset.

    python bench/filter_rates.py
"""
from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sft_select.core.paths import shared_data  # noqa: E402
from sft_select.core.record import Example, Turn  # noqa: E402
from sft_select.preprocess.config import FilterConfig  # noqa: E402
from sft_select.preprocess.filters import filter_reason  # noqa: E402


def chat(prompt: str, response: str) -> Example:
    return Example(id="", source="", row=0, format="alpaca", original={},
                   turns=(Turn("user", prompt), Turn("assistant", response)))


def datasets(data: Path) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    dolly = json.load(gzip.open(data / "dolly_3k_categories" / "dolly_3k.json.gz", "rt", encoding="utf-8"))
    out["dolly_3k (human)"] = [chat(r["instruction"] + "\n\n" + r["input"], r["output"]) for r in dolly]
    gpt = [json.loads(x) for x in gzip.open(data / "gpteacher_toolformer_dedup" / "toolformer_labeled.jsonl.gz", "rt")]
    out["gpteacher (GPT-4)"] = [chat(r["instruction"] + "\n\n" + r["input"], r["output"]) for r in gpt]
    preds = data / "self_instruct_model_tiers" / "predictions"
    for model in ("text-davinci-003", "text-davinci-001", "davinci"):
        rows = [json.loads(x) for x in gzip.open(preds / f"{model}_predictions.jsonl.gz", "rt", encoding="utf-8")]
        out[f"self-instruct {model}"] = [chat(r.get("prompt") or r.get("instruction") or "", r.get("response") or "")
                                         for r in rows]
    return out


def main() -> None:
    data = shared_data()
    if data is None:
        print("shared data not found: nothing to measure")
        return
    cfg = FilterConfig()
    for name, exs in datasets(data).items():
        reasons = Counter(filter_reason(ex, cfg) for ex in exs)
        kept = reasons.pop(None, 0)
        print(f"{name}: {len(exs)} examples, dropped {len(exs) - kept} ({(len(exs) - kept) / len(exs):.1%}): "
              + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))


if __name__ == "__main__":
    main()
