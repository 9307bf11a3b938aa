"""Plotly figures as plain dicts, drawn from summary.json.

Plain dicts rather than `plotly.graph_objects`: building them is instant at any pool size and needs only
plotly.js in the page; the tests validate every figure against plotly's schema instead. Every text a
user wrote (example snippets, labels, ids) is HTML-escaped before it reaches a figure: plotly renders a
subset of HTML in hover labels and tick texts.
"""
from __future__ import annotations

import html
import math
import re
from functools import lru_cache
from typing import Any, Callable

Fig = dict[str, Any]

COLORS = {"selected": "#0f766e", "not selected": "#94a3b8", "duplicate": "#f59e0b", "filtered": "#dc2626",
          "decontaminated": "#db2777", "vetoed (floor)": "#7c3aed"}
STATUS_ORDER = ["not selected", "duplicate", "filtered", "decontaminated", "vetoed (floor)", "selected"]
QUALITATIVE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563",
               "#65a30d", "#b91c1c", "#0d9488", "#7c3aed"]
POOL, SELECTED, ACCENT = "#94a3b8", "#0f766e", "#1e293b"


def esc(text: Any) -> str:
    return html.escape(str(text), quote=False)


@lru_cache(maxsize=8)
def _line_pattern(width: int) -> re.Pattern[str]:
    """Up to `width` characters followed by a space or the end: the greedy line over whole words."""
    return re.compile(r"(.{1,%d})(?: |\Z)" % width, re.DOTALL)


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (textwrap is ten times slower, and the map wraps 5,000 of these)."""
    if _plain_words(text, width):  # one regex scan in C gives the same lines as the loop
        return _line_pattern(width).findall(text)
    return _wrap_greedy(text, width)


def _wrap_greedy(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split(" "):
        while len(word) > width:  # a long token (a URL, a hash) is cut rather than overflowing the label
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _plain_words(text: str, width: int) -> bool:
    """Whether `text` is words of at most `width` characters with single spaces between them: where the
    regex and the loop in `wrap` agree (they differ on long words and on runs of spaces)."""
    return bool(text) and text[0] != " " and text[-1] != " " and "  " not in text \
        and max(map(len, text.split(" "))) <= width


def squeezed(text: str, chars: int) -> str:
    """`text` with each run of whitespace made one space, cut to `chars` characters (the last one "…").
    Only a prefix is squeezed when it is enough: a squeezed prefix is a prefix of the squeezed whole, and
    a pool's texts run to thousands of characters where a label shows 200."""
    head = " ".join(text[: 4 * chars].split())
    if len(head) <= chars:  # too short to tell: the rest might still add characters
        head = " ".join(text.split())
    return head if len(head) <= chars else head[: chars - 1] + "…"


def hover_text(title: str, body: str | None, width: int = 72, chars: int = 200) -> str:
    """An escaped hover label: a bold title line, then the body's first `chars` characters wrapped."""
    lines = [f"<b>{esc(title)}</b>"]
    if body:
        lines += [esc(line) for line in wrap(squeezed(body, chars), width)]
    return "<br>".join(lines)


def layout(**extra: Any) -> dict[str, Any]:
    base = {"margin": {"l": 56, "r": 16, "t": 16, "b": 48}, "height": 320, "autosize": True,
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13,
                     "color": "#1e293b"},
            "hoverlabel": {"font": {"family": "ui-monospace, SFMono-Regular, Menlo, monospace", "size": 12}},
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "xanchor": "left"},
            "xaxis": {"gridcolor": "#e2e8f0", "zerolinecolor": "#cbd5e1"},
            "yaxis": {"gridcolor": "#e2e8f0", "zerolinecolor": "#cbd5e1"}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def funnel_figure(f: dict[str, Any]) -> Fig:
    stages = f["stages"]
    top = stages[0]["count"] or 1
    hover = []
    for st in stages:
        lines = [f"<b>{esc(st['stage'])}</b>: {st['count']:,} ({_pct(st['count'], top)})"]
        lines += [f"− {esc(k)}: {v:,}" for k, v in list(st["dropped"].items())[:8]]
        hover.append("<br>".join(lines))
    colors = [SELECTED if i == len(stages) - 1 else "#475569" for i in range(len(stages))]
    trace = {"type": "bar", "orientation": "h", "y": [esc(s["stage"]) for s in stages],
             "x": [s["count"] for s in stages], "marker": {"color": colors},
             "text": [f"{s['count']:,} · {_pct(s['count'], top)}" for s in stages], "textposition": "auto",
             "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>"}
    return {"data": [trace], "layout": layout(height=60 + 44 * len(stages), yaxis={"autorange": "reversed"},
                                              xaxis={"title": {"text": "examples"}}, margin={"l": 170})}


def drops_figure(by_reason: dict[str, int]) -> Fig | None:
    if not by_reason:
        return None
    items = sorted(by_reason.items(), key=lambda kv: -kv[1])[:20]
    colors = [COLORS["duplicate"] if k.startswith("duplicate") else COLORS["filtered"] if k != "not_selected"
              and not k.startswith("below") else COLORS["not selected"] for k, _ in items]
    names = [esc(k) for k, _ in items]
    trace = {"type": "bar", "orientation": "h", "y": names, "x": [v for _, v in items],
             "marker": {"color": colors}, "text": [f"{v:,}" for _, v in items], "textposition": "auto",
             "hovertemplate": "%{y}: %{x:,}<extra></extra>"}
    ticks = tick_labels([k for k, _ in items], 32, 1)
    return {"data": [trace], "layout": layout(height=60 + 36 * len(items), yaxis={"autorange": "reversed", **ticks},
                                              xaxis={"title": {"text": "examples dropped"}}, margin={"l": 170})}


def nice_step(lo: float, hi: float, ticks: int = 8) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 × 10^k) giving about `ticks` ticks over [lo, hi].

    Plotly otherwise aligns ticks to the bars of an evenly binned histogram (0.3791, 0.4458, ...).
    """
    raw = max(hi - lo, 1e-12) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def histogram_figure(hist: dict[str, list], x_title: str, cut: float | None = None) -> Fig | None:
    edges = hist["edges"]
    if len(edges) < 2:
        return None
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = [(b - a) for a, b in zip(edges[:-1], edges[1:])]
    ranges = [f"{a:.4g} – {b:.4g}" for a, b in zip(edges[:-1], edges[1:])]
    data = [{"type": "bar", "name": name, "x": centers, "y": hist[key], "width": width,
             "marker": {"color": color, "line": {"width": 0}}, "customdata": ranges,
             "hovertemplate": f"{name}: %{{y:,}}<br>value %{{customdata}}<extra></extra>"}
            for name, key, color in (("selected", "selected", SELECTED), ("not selected", "other", POOL))]
    tallest = max((a + b for a, b in zip(hist["selected"], hist["other"])), default=0)
    if cut is not None:  # a trace rather than a shape, so the legend names it instead of a label over the bars
        data.append({"type": "scatter", "mode": "lines", "name": f"lowest selected score ({cut:.3f})", "x": [cut, cut],
                     "y": [0, tallest], "line": {"color": ACCENT, "dash": "dash", "width": 1.5},
                     "hovertemplate": f"lowest selected score: {cut:.4f}<extra></extra>"})
    yaxis = {"title": {"text": "examples"}, "rangemode": "tozero"}
    if tallest <= 8:
        yaxis["dtick"] = 1  # counts are whole numbers: no 0.5 ticks on a small pool
    return {"data": data, "layout": layout(barmode="stack", bargap=0.04, height=280,
                                           xaxis={"title": {"text": esc(x_title)}, "type": "linear", "tick0": 0,
                                                  "dtick": nice_step(edges[0], edges[-1])},
                                           yaxis=yaxis)}


def _mix(a: str, b: str, t: float) -> str:
    """The colour a fraction `t` of the way from `a` to `b` (both #rrggbb)."""
    ca, cb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def correlation_cells(c: dict[str, Any]) -> list[list[dict[str, str]]] | None:
    """The correlation matrix as table cells (value, background, ink) rather than a plotly heatmap: a few
    views make a small table that reads better as numbers, and it keeps the heatmap trace, and with it
    plotly.js's larger bundle, out of the page. Red at ρ = -1, white at 0, blue at 1."""
    if not c["matrix"]:
        return None
    rows = []
    for row in c["matrix"]:
        cells = []
        for rho in row:
            rho = 0.0 if rho is None else float(rho)
            bg = _mix("#f8fafc", "#1d4ed8" if rho >= 0 else "#b91c1c", min(abs(rho), 1.0))
            cells.append({"text": f"{rho:.2f}", "bg": bg, "ink": "#ffffff" if abs(rho) > 0.55 else ACCENT})
        rows.append(cells)
    return rows


def _legend_count(shown: int, total: int | None, sampled: bool) -> str:
    """A legend count that says what it counts: points drawn, and of how many in the run when sampled."""
    if not sampled:
        return f"{shown:,}"
    return f"{shown:,} shown of {total:,}" if total is not None else f"{shown:,} shown"


def map_figure(m: dict[str, Any], text: Callable[[str], str | None],
               labels: dict[str, str] | None = None) -> Fig | None:
    """The map in a compact form: x, y and the hover texts once under "points", each trace naming the
    rows it draws ("rows"); the page's script (report.js) and `expand_points` fill the traces in. The
    status and the cluster colourings draw the same points, so this halves what the page carries."""
    if "points" not in m:
        return None
    p = m["points"]
    labels = labels or {}
    sampled = m.get("n_points", len(p["x"])) < m.get("n_total", len(p["x"]))
    totals = m.get("status_totals") or {}
    hover = [hover_text(f"{labels.get(i, i)} · {s}" + (f" · cluster {c}" if c is not None else ""), text(i))
             for i, s, c in zip(p["id"], p["status"], p["cluster"])]
    data, by_status, by_cluster = [], [], []

    def points(idx: list[int], name: str, color: str, size: int = 6) -> Fig:
        return {"type": "scatter", "mode": "markers", "name": esc(name), "rows": idx,
                "hovertemplate": "%{hovertext}<extra></extra>",
                "marker": {"color": color, "size": size, "opacity": 0.75, "line": {"width": 0}}}

    for s in STATUS_ORDER:
        idx = [i for i, v in enumerate(p["status"]) if v == s]
        if idx:
            count = _legend_count(len(idx), totals.get(s), sampled)
            data.append(points(idx, f"{s} ({count})", COLORS[s], 7 if s == "selected" else 5))
            by_status.append(len(data) - 1)
    counts: dict[str, int] = {}
    for c in p["cluster"]:
        counts[str(c)] = counts.get(str(c), 0) + 1
    named = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])][: len(QUALITATIVE)]
    for k, c in enumerate(named + ["other"]):
        idx = [i for i, v in enumerate(p["cluster"]) if (str(v) == c if c != "other" else str(v) not in named)]
        if idx:
            name = f"cluster {c}" if c != "other" else "other clusters"
            trace = points(idx, f"{name} ({_legend_count(len(idx), None, sampled)})",
                           QUALITATIVE[k] if c != "other" else "#cbd5e1")
            trace["visible"] = False
            data.append(trace)
            by_cluster.append(len(data) - 1)
    always = []
    if "target" in m:
        tids = m["target"].get("id") or [""] * len(m["target"]["x"])
        data.append({"type": "scatter", "mode": "markers", "name": "target examples", "x": m["target"]["x"],
                     "y": m["target"]["y"], "hovertext": [hover_text("target example", text(t)) for t in tids],
                     "hovertemplate": "%{hovertext}<extra></extra>",
                     "marker": {"symbol": "star", "size": 13, "color": "#facc15",
                                "line": {"color": ACCENT, "width": 1}}})
        always.append(len(data) - 1)

    def visible(shown: list[int]) -> list[bool]:
        return [i in shown or i in always for i in range(len(data))]

    menus = [{"type": "buttons", "direction": "right", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
              "showactive": True, "pad": {"r": 0, "t": 0},
              "buttons": [{"label": "colour: status", "method": "restyle", "args": [{"visible": visible(by_status)}]},
                          {"label": "colour: cluster", "method": "restyle",
                           "args": [{"visible": visible(by_cluster)}]}]}]
    ev = m.get("explained_variance") or [0, 0]
    return {"data": data, "points": {"x": p["x"], "y": p["y"], "hovertext": hover}, "layout": layout(
        height=620, updatemenus=menus, margin={"b": 110, "t": 48},
        legend={"y": -0.13, "yanchor": "top", "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": f"PC1 ({100 * ev[0]:.0f}% of variance)"}, "zeroline": False},
        yaxis={"title": {"text": f"PC2 ({100 * ev[1]:.0f}% of variance)"}, "zeroline": False})}


def expand_points(fig: Fig) -> Fig:
    """A figure as plotly takes it: each trace's "rows" replaced by its x, y and hover texts (what
    report.js does in the page)."""
    shared = fig.get("points")
    if shared is None:
        return fig
    data = []
    for trace in fig["data"]:
        trace = dict(trace)
        rows = trace.pop("rows", None)
        if rows is not None:
            trace.update({k: [shared[k][i] for i in rows] for k in ("x", "y", "hovertext")})
        data.append(trace)
    return {"data": data, "layout": fig["layout"]}


def _tick(name: str, width: int, lines: int) -> str:
    """A category name in at most `lines` lines of `width` characters; a longer one keeps its start and its
    end around an ellipsis (names that differ only at the end, "group 1 …", "group 2 …", stay apart)."""
    flat = " ".join(name.split())
    parts = wrap(flat, width) or [""]
    if len(parts) > lines:
        if lines == 1:
            head = (width - 1) // 2
            parts = [flat[:head].rstrip() + "…" + flat[-(width - 1 - head):].lstrip()]
        else:
            parts = parts[: lines - 1] + ["…" + flat[-(width - 1):].lstrip()]
    return "<br>".join(esc(part) for part in parts)


def tick_labels(categories: list[str], width: int = 18, lines: int = 3) -> dict[str, Any]:
    """Axis settings that keep long category names from being clipped: each tick wrapped and cut
    (`_tick`; the hover keeps the whole name), and the margin grown to fit (automargin). Two names that
    would still show the same tick get their rank appended."""
    text = [_tick(c, width, lines) for c in categories]
    seen: dict[str, int] = {}
    for t in text:
        seen[t] = seen.get(t, 0) + 1
    text = [f"{t} #{k + 1}" if seen[t] > 1 else t for k, t in enumerate(text)]
    return {"type": "category", "automargin": True, "tickmode": "array",
            "tickvals": [esc(c) for c in categories], "ticktext": text}


def share_figure(dist: dict[str, Any], x_title: str) -> Fig:
    cats = [esc(c) for c in dist["categories"]]
    data: list[Fig] = []
    for name, key, color in (("pool", "pool", POOL), ("selected", "selected", SELECTED)):
        total = sum(dist[key]) or 1
        data.append({"type": "bar", "name": name, "x": cats, "y": [100 * v / total for v in dist[key]],
                     "customdata": dist[key], "marker": {"color": color},
                     "hovertemplate": f"%{{x}} · {name}: %{{y:.1f}}% (%{{customdata:,.0f}})<extra></extra>"})
    # A few categories get up to three lines each; many get one slanted line, and automargin makes room.
    many = len(cats) > 6
    ticks = tick_labels(dist["categories"], 22, 1) if many else tick_labels(dist["categories"])
    xaxis = {"title": {"text": esc(x_title)}, **ticks, "tickangle": -30 if many else 0}
    return {"data": data, "layout": layout(barmode="group", bargap=0.25, xaxis=xaxis,
                                           yaxis={"title": {"text": "share (%)"}})}


def length_figure(h: dict[str, Any]) -> Fig | None:
    edges = h["edges"]
    if len(edges) < 2:
        return None
    centers = [math.sqrt(max(a, 1) * b) for a, b in zip(edges[:-1], edges[1:])]
    ranges = [f"{a:,.0f}–{b:,.0f} chars" for a, b in zip(edges[:-1], edges[1:])]
    data = []
    for name, key, color, fill in (("pool", "pool", POOL, "rgba(148,163,184,0.35)"),
                                   ("selected", "selected", SELECTED, "rgba(15,118,110,0.25)")):
        total = sum(h[key]) or 1
        data.append({"type": "scatter", "mode": "lines", "name": name, "x": centers,
                     "y": [100 * v / total for v in h[key]], "line": {"color": color, "shape": "hvh", "width": 2},
                     "fill": "tozeroy", "fillcolor": fill, "customdata": ranges,
                     "hovertemplate": f"{name}: %{{y:.1f}}% at %{{customdata}}<extra></extra>"})
    return {"data": data, "layout": layout(xaxis={"type": "log", "title": {"text": "length (characters, log scale)"}},
                                           yaxis={"title": {"text": "share (%)"}})}


def _hline(x0: float, x1: float, y: float, name: str, color: str, dash: str = "dash") -> Fig:
    return {"type": "scatter", "mode": "lines", "name": esc(name), "x": [x0, x1], "y": [y, y],
            "line": {"color": color, "dash": dash, "width": 2},
            "hovertemplate": f"{esc(name)}: %{{y:.4f}}<extra></extra>"}


def tau_figure(t: dict[str, Any]) -> Fig | None:
    sweep = t["sweep"]
    if not sweep:
        return None
    by_size = all(s["size"] is not None for s in sweep)
    key = "size" if by_size else "tau"
    pts = sorted((s for s in sweep if s[key] is not None), key=lambda s: s[key])
    if not pts:
        return None
    xs = [s[key] for s in pts]
    data = [{"type": "scatter", "mode": "lines+markers", "name": "f(S_τ)", "x": xs, "y": [s["f"] for s in pts],
             "customdata": [[s["tau"], s["size"]] for s in pts], "line": {"color": SELECTED, "width": 2.5},
             "hovertemplate": "τ=%{customdata[0]}<br>|S_τ|=%{customdata[1]}<br>f=%{y:.4f}<extra></extra>"}]
    if by_size and t["random"]:
        r = t["random"]
        data.append({"type": "scatter", "mode": "lines", "x": [b["size"] for b in r], "y": [b["max"] for b in r],
                     "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "lines+markers", "name": "random subset (mean, min–max)",
                     "x": [b["size"] for b in r], "y": [b["min"] for b in r], "fill": "tonexty",
                     "fillcolor": "rgba(148,163,184,0.3)", "line": {"width": 0}, "marker": {"size": 1},
                     "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "lines+markers", "name": "random subset", "showlegend": False,
                     "x": [b["size"] for b in r], "y": [b["mean"] for b in r], "customdata": [b["n"] for b in r],
                     "line": {"color": "#64748b", "dash": "dot"},
                     "hovertemplate": "random, size %{x}: %{y:.4f} (mean of %{customdata})<extra></extra>"})
    if t["whole_pool"] is not None:
        lo = min(xs + [b["size"] for b in t["random"]] if by_size else xs)
        hi = max(xs + [b["size"] for b in t["random"]] if by_size else xs)
        data.append(_hline(lo, hi, t["whole_pool"], "whole pool", ACCENT))
    return {"data": data, "layout": layout(height=360, legend={"traceorder": "normal"},
                                           xaxis={"title": {"text": "subset size |S_τ|" if by_size else "τ"}},
                                           yaxis={"title": {"text": esc(t["metric"])}})}


def trace_figure(t: dict[str, Any], selected: int) -> Fig | None:
    trace = t["trace"]
    if not trace:
        return None
    xs = [r["trial"] for r in trace]
    best, running = -math.inf, []
    for r in trace:
        best = max(best, r["f"])
        running.append(best)
    hover = ["<br>".join([f"trial {r['trial']}: f={r['f']:.4f}"] +
                         [f"{esc(k)}={v:.3f}" for k, v in r["weights"].items() if v is not None]) for r in trace]
    data = [{"type": "scatter", "mode": "markers", "name": "trial", "x": xs, "y": [r["f"] for r in trace],
             "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>",
             "marker": {"color": "#2563eb", "size": 7, "opacity": 0.8}},
            {"type": "scatter", "mode": "lines", "name": "best so far", "x": xs, "y": running,
             "line": {"color": SELECTED, "shape": "hv", "width": 2.5}, "hoverinfo": "skip"}]
    lo, hi = min(xs), max(max(xs), min(xs) + 1)
    if t["random"]:
        r = min(t["random"], key=lambda b: abs(b["size"] - selected))
        data.append(_hline(lo, hi, r["mean"], f"random subset (size {r['size']:.0f})", "#64748b", "dot"))
    if t["whole_pool"] is not None:
        data.append(_hline(lo, hi, t["whole_pool"], "whole pool", ACCENT))
    return {"data": data, "layout": layout(height=360, xaxis={"title": {"text": "trial"}},
                                           yaxis={"title": {"text": esc(t["metric"])}})}


def timings_figure(timings: dict[str, float]) -> Fig | None:
    items = [(k, float(v)) for k, v in (timings or {}).items() if isinstance(v, (int, float))]
    if not items:
        return None
    trace = {"type": "bar", "orientation": "h", "y": [esc(k) for k, _ in items], "x": [v for _, v in items],
             "marker": {"color": "#475569"}, "text": [f"{v:.2f} s" for _, v in items], "textposition": "auto",
             "hovertemplate": "%{y}: %{x:.3f} s<extra></extra>"}
    return {"data": [trace], "layout": layout(height=60 + 34 * len(items), yaxis={"autorange": "reversed"},
                                              xaxis={"title": {"text": "seconds"}}, margin={"l": 140})}


def build_figures(summary: dict[str, Any], text: Callable[[str], str | None],
                  labels: dict[str, str] | None = None) -> dict[str, Fig]:
    """Every figure of the page by id; an id absent here means the section shows a note instead.
    `labels`: the page's short id labels (ids.id_labels), so the map's hovers match the tables."""
    figs: dict[str, Fig | None] = {
        "funnel": funnel_figure(summary["funnel"]),
        "drops": drops_figure(summary["funnel"]["by_reason"]),
        "score": histogram_figure(summary["score"]["hist"], "combined score", summary["score"]["cut"]),
        "map": map_figure(summary["map"], text, labels),
        "length": length_figure(summary["coverage"]["length"]),
        "timings": timings_figure((summary["manifest"] or {}).get("timings") or {}),
    }
    for i, v in enumerate(summary["views"]):
        better = "higher is better" if v["higher_is_better"] else "lower is better"
        figs[f"view-{i}"] = histogram_figure(v["hist"], f"{v['name']} raw value ({better})")
    cov = summary["coverage"]
    for key, title in (("labels", "label"), ("clusters", "cluster"), ("sources", "input file")):
        if key in cov:
            figs[f"cov-{key}"] = share_figure(cov[key], title)
    if summary["tune"]:
        figs["tau"] = tau_figure(summary["tune"])
        figs["trace"] = trace_figure(summary["tune"], summary["funnel"]["selected"])
    return {k: v for k, v in figs.items() if v is not None}
