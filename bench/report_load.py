"""How long report.html takes to open, and to write: a run of N rows, then its page in headless Chromium.

For each size: the scale benchmark's pool (bench/scale_bench.py: Alpaca-sized rows, 2% exact and 2%
near repeats), `sft-select run` with the defaults and -n N/10, then
- the report's generation: `write_report` with the examples in memory, as at the end of a run, in a
  fresh process each time (first-call imports included), `--reports` times;
- the page's size and the copies of plotly.js in it;
- its load: a fresh headless Chromium for each of `--loads` opens the file (cold: no compiled code
  cached), timed from navigation start to the later of the `load` event and every figure drawn
  (body[data-ready], which report.js stamps with performance.now() as data-ready-ms).

    python bench/report_load.py [--sizes 3000 100000] [--loads 5] [--reports 3] [--src DIR]
    python bench/report_load.py --page A.html B.html     # only time the loads of existing pages

`--src` runs another checkout's package (e.g. `git archive HEAD src | tar -x -C /tmp/old`, then
`--src /tmp/old/src`) on the same runs, for a before/after pair. Needs chromium, chromedriver and
selenium (the report's browser tests use the same).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "report"))

from browser import browser, console_errors  # noqa: E402

from scale_bench import make_rows, write_pool  # noqa: E402

REPORT_TIMER = """
import sys, time
from pathlib import Path
from sft_select.io.load import load
from sft_select.report import write_report
run, pool = Path(sys.argv[1]), sys.argv[2]
examples = load([pool]).examples
start = time.perf_counter()
write_report(run, examples=examples)
print(time.perf_counter() - start)
"""


def env_for(src: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(src), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def make_run(n: int, out: Path, src: Path) -> tuple[Path, Path, float]:
    pool, target = out / f"pool-{n}.jsonl", out / "target.jsonl"
    write_pool(pool, n)
    if not target.exists():
        target.write_text("".join(json.dumps(r) + "\n" for r in make_rows(30, seed=99)))
    run = out / f"run-{n}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sft_select", "-q", "run", str(pool), "--target", str(target),
                    "-n", str(max(1, n // 10)), "--out", str(run), "--force"], env=env_for(src), check=True)
    return run, pool, time.perf_counter() - start


def time_report(run: Path, pool: Path, src: Path) -> float:
    done = subprocess.run([sys.executable, "-c", REPORT_TIMER, str(run), str(pool)], env=env_for(src),
                          check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def time_load(page: Path, timeout: float = 120) -> dict:
    """One cold load: a new browser, so nothing of an earlier load is cached."""
    from selenium.webdriver.support.ui import WebDriverWait

    with browser() as drv:
        drv.get("about:blank")
        drv.get(page.resolve().as_uri())  # returns after the load event
        ready = WebDriverWait(drv, timeout, poll_frequency=0.02).until(
            lambda d: d.execute_script("return document.body.dataset.ready || ''"))
        polled = drv.execute_script("return performance.now()")  # for a page that stamps no time
        load_ms, ready_ms = drv.execute_script(
            "return [performance.getEntriesByType('navigation')[0].loadEventEnd,"
            " Number(document.body.dataset.readyMs || 0)]")
        errors = console_errors(drv)
    drawn_ms = ready_ms or polled
    return {"load_event_s": round(load_ms / 1000, 3), "figures_drawn_s": round(drawn_ms / 1000, 3),
            "total_s": round(max(load_ms, drawn_ms) / 1000, 3), "ready": ready, "console_errors": len(errors)}


def page_facts(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    return {"page_mb": round(page.stat().st_size / 1e6, 2),
            "plotly_copies": len(re.findall(r"\* plotly\.js (?:\(\w+ - minified\) )?v\d", text))}  # its header


def time_loads(page: Path, loads: int) -> dict:
    runs = [time_load(page) for _ in range(loads)]
    return {"page": str(page), **page_facts(page), "loads": runs,
            "total_s_median": round(statistics.median(r["total_s"] for r in runs), 3),
            "total_s_max": max(r["total_s"] for r in runs), "load": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[3000, 100_000])
    ap.add_argument("--loads", type=int, default=5, help="cold page loads per page")
    ap.add_argument("--reports", type=int, default=3, help="report generations per run")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the package to run (default: this checkout)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "report_load")
    ap.add_argument("--page", type=Path, nargs="+", help="only time the loads of these pages")
    args = ap.parse_args()
    if args.page:
        for page in args.page:
            print(json.dumps(time_loads(page, args.loads)), flush=True)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        run, pool, run_s = make_run(n, args.out, args.src)
        report_s = [round(time_report(run, pool, args.src), 2) for _ in range(args.reports)]
        result = time_loads(run / "report.html", args.loads)
        print(json.dumps({"n": n, "src": str(args.src), "run_s": round(run_s, 1), "report_s": report_s,
                          "report_s_median": statistics.median(report_s), **result}), flush=True)


if __name__ == "__main__":
    main()
