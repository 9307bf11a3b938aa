"""Run the reliability fuzz tests with many more cases than the test suite, and count them.

Each property test in tests/reliability/test_fuzz_*.py runs with max_examples × SCALE, with random
(not derandomized) generation, so every run of this script explores new cases. Prints the cases tried
per test and outcome; any failure is hypothesis's minimal failing example, with a traceback.

    python bench/fuzz_readers.py --scale 20        # the figure in docs/reliability.md
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=20.0, help="multiplier on each test's max_examples")
    ap.add_argument("--only", default="", help="run only tests whose name contains this")
    ap.add_argument("--json", type=Path, default=None, help="also write the counts here")
    args = ap.parse_args()
    os.environ["SFT_SELECT_FUZZ_SCALE"] = str(args.scale)  # read when tests/reliability/fuzz.py is imported
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

    from reliability import test_fuzz_pipeline, test_fuzz_readers
    from reliability.fuzz import CASES, total_cases

    seconds: dict[str, float] = {}
    failed: list[str] = []
    for module in (test_fuzz_readers, test_fuzz_pipeline):
        for name in sorted(n for n in dir(module) if n.startswith("test_") and args.only in n):
            start = time.perf_counter()
            try:
                getattr(module, name)()  # a hypothesis test runs all its cases when called
            except Exception:  # hypothesis has printed the minimal failing case; go on with the rest
                traceback.print_exc()
                failed.append(name)
            seconds[name] = round(time.perf_counter() - start, 1)
            print(f"{name}: {'FAILED' if name in failed else 'passed'} in {seconds[name]}s", flush=True)
    figures = {"scale": args.scale, "cases_tried": total_cases(),
               "by_test": {k: dict(v) for k, v in sorted(CASES.items())}, "seconds": seconds,
               "failed_tests": failed}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
