"""Render report.html: one self-contained file (plotly.js, styles and data inline, nothing fetched).

Safety: example texts are untrusted. Jinja autoescapes every value put into the page; figure data sits in
a `<script type="application/json">` block with `<`, `>` and `&` written as \\u escapes so no text can
close the block; hover texts are HTML-escaped in figures.py. A Content-Security-Policy allows only the
page's own scripts (by nonce) and no network at all, so even a missed escape could neither run a script
nor load anything.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any, Callable

from sft_select.report.figures import COLORS, build_figures, correlation_cells
from sft_select.report.ids import id_labels, page_ids


def safe_json(obj: Any) -> str:
    """JSON that is inert inside an HTML <script> block."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


PLOTLY_BUNDLE = "plotly-basic.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js's basic bundle (bar, scatter, pie: every trace the page draws), vendored in templates/
    from the npm package plotly.js-basic-dist-min: a quarter of the full bundle, and it starts in a
    fraction of the time, which is most of what a browser spends opening the page. Once per page,
    whatever the number of figures."""
    return _env().loader.get_source(_env(), PLOTLY_BUNDLE)[0]


# No bytecode cache for the compiled template (compiled again for each report): jinja's cache is marshalled code
# read from the user's cache folder, and no cache file of this package may run code (see embed.DiskCache).
@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("sft_select.report", "templates"),
                      autoescape=select_autoescape(["html"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt_num
    env.filters["short"] = lambda s, n=12: (str(s)[:n] + "…") if s is not None and len(str(s)) > n else s
    return env


def _fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x.is_integer() and abs(x) >= 1000:
            return f"{int(x):,}"
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:,.{digits}f}"
    return str(x)


_PLAIN = (str, int, bool, type(None))  # exact types json_safe returns unchanged


def json_safe(obj: Any) -> Any:
    """NaN/inf become null: JSON has no NaN and the page treats null as 'not available'."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        # Inline for the common atoms: the map's lists hold 5,000 numbers and strings each.
        return [v if type(v) in _PLAIN else (v if math.isfinite(v) else None) if type(v) is float
                else json_safe(v) for v in obj]
    return obj


def _nonce(summary: dict[str, Any], figures: dict[str, Any]) -> str:
    """The CSP script nonce: a hash of the page's data rather than a random draw, so the same run renders
    the same bytes. Whoever wrote one example cannot predict it without every other example and score,
    and escaping, not the nonce, is what keeps their text inert; the nonce is the second line."""
    import xxhash

    h = xxhash.xxh3_128(json.dumps(summary, sort_keys=True, default=str).encode("utf-8", "surrogatepass"))
    h.update(json.dumps(figures, sort_keys=True, default=str).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def render_html(summary: dict[str, Any], text: Callable[[str], str | None]) -> str:
    import yaml

    labels = id_labels(page_ids(summary))
    figures = json_safe(build_figures(summary, text, labels))
    config = (summary.get("manifest") or {}).get("config") or {}
    return _env().get_template("report.html").render(
        s=summary, figures=figures, figures_json=safe_json(figures), plotly_js=plotly_js(), ids=labels,
        nonce=_nonce(summary, figures), colors=COLORS, corr=correlation_cells(summary["correlation"]),
        config_yaml=yaml.safe_dump(config, sort_keys=False, allow_unicode=True) if config else "",
        css=_env().loader.get_source(_env(), "report.css")[0],
        js=_env().loader.get_source(_env(), "report.js")[0])
