"""Screenshot a report for the docs: `python tests/report/screenshot.py REPORT.html OUT.png`.

Uses the same headless Chromium as the browser test; the Chrome DevTools protocol clips and scales the
page, so no image library is needed. docs/report.png is the demo run's report made with this script.
"""
from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import browser, open_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("report", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1400, help="browser window width (CSS pixels)")
    ap.add_argument("--height", type=int, default=2100, help="height of the clip from the top (CSS pixels)")
    ap.add_argument("--scale", type=float, default=0.7)
    args = ap.parse_args()
    # The window is as tall as the clip so the fixed table of contents runs down the whole picture.
    with browser(width=args.width, height=args.height + 200) as drv:
        if open_report(drv, args.report) != "1":
            raise SystemExit("the report did not finish drawing")
        shot = drv.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": args.width, "height": args.height, "scale": args.scale}})
    args.out.write_bytes(base64.b64decode(shot["data"]))
    print(f"{args.out}: {args.out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
