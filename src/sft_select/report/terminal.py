"""Rich tables in the terminal: `sft-select inspect` (the report's summary) and `sft-select explain`.

User text goes in as `rich.text.Text`, never as markup, so an example containing `[bold]` or `[/]`
prints as written; and every string from the data passes `textsafe.printable` first, so an example's
terminal escape sequences (clear the screen, recolour, draw a fake verdict) print as visible `\x1b…`.
"""
from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sft_select.core.textsafe import printable_tree
from sft_select.report.lengthbias import length_warning


def _n(x: Any, digits: int = 3) -> str:
    """Numbers as the HTML report prints them, so the terminal and the page agree."""
    from sft_select.report.html import _fmt_num

    return _fmt_num(x, digits)


def _count(x: Any) -> Any:
    """A count stored as a float (summary.json's lists are floats) printed as the whole number it is."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]], numeric_from: int = 1,
           text_columns: frozenset[int] = frozenset()) -> Table:
    # Numbers keep their width (a cut number reads as another number); names fold onto a second line, so
    # a table fits an 80-column terminal instead of losing its last columns.
    t = Table(title=Text(title), title_justify="left", title_style="bold", header_style="dim", show_edge=False)
    for k, col in enumerate(columns):
        numeric = k >= numeric_from and k not in text_columns
        t.add_column(Text(col), justify="right" if numeric else "left", overflow="fold", no_wrap=numeric,
                     min_width=min(len(col), 6) if not numeric else None)
    for row in rows:
        t.add_row(*[cell if isinstance(cell, Text) else Text(_n(cell)) for cell in row])
    return t


def print_inspect(s: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    s = printable_tree(s)
    f = s["funnel"]
    console.print(Text(f"Run {s['run']['dir']} · status {s['run']['status']} · seed {s['run']['seed']}", style="bold"))
    for note in s["notes"]:
        console.print(Text(f"note: {note}", style="yellow"))
    top = f["stages"][0]["count"] or 1
    console.print(_table("Funnel", ["stage", "remaining", "share", "dropped here"],
                         [(st["stage"], st["count"], f"{100 * st['count'] / top:.1f}%",
                           Text(", ".join(f"{k} {v:,}" for k, v in st["dropped"].items()) or "–"))
                          for st in f["stages"]], numeric_from=1, text_columns=frozenset({3})))
    console.print(_table("Views (raw values; sel./rest: mean over the selected/the rest; s: seconds)",
                         ["view", "weight", "sel.", "rest", "min", "median", "max", "s"],
                         [(v["name"], v["weight"], v["stats"]["mean_selected"], v["stats"]["mean_rest"],
                           v["stats"]["min"], v["stats"]["median"], v["stats"]["max"], v["seconds"])
                          for v in s["views"]]))
    sc = s["score"]
    console.print(Text(f"combined score: mean selected {_n(sc['stats']['mean_selected'])}, mean rest "
                       f"{_n(sc['stats']['mean_rest'])}, cut {_n(sc['cut'])}"))
    c = s["correlation"]
    if c["matrix"]:
        console.print(_table(f"Spearman correlation ({c['n']:,} rows)", [""] + c["views"],
                             [[name] + row for name, row in zip(c["views"], c["matrix"])]))
        for a, b, r in c["redundant"]:
            console.print(Text(f"redundant: {a} and {b} (ρ = {r})", style="yellow"))
    warning = length_warning(s.get("length_correlation"))  # older summaries have no such key
    if warning:
        console.print(Text(f"length: {warning}", style="yellow"))
    tot = s["coverage"]["totals"]
    cols = ["", "examples", "characters"] + (["tokens (est.)"] if "tokens" in tot["pool"] else [])
    stages = (("pool", "pool as read"), ("candidates", "after preprocessing"), ("selected", "selected"))
    console.print(_table("Coverage", cols, [[name] + [tot[key].get(k) for k in ("examples", "chars", "tokens")
                                                      if k in tot["pool"]]
                                            for key, name in stages]))
    if "tokens" in tot["pool"]:
        method = s["coverage"].get("token_method") or "a regex count of words and punctuation"
        console.print(Text(f"tokens are an estimate, not a model tokenizer's count: {method}", style="dim"))
    for key, title in (("labels", "Labels"), ("clusters", "Clusters"), ("sources", "Input files")):
        d = s["coverage"].get(key)
        if not d:
            continue
        ptot, stot = sum(d["pool"]) or 1, sum(d["selected"]) or 1
        console.print(_table(title, ["", "pool", "pool %", "selected", "selected %"],
                             [(Text(cat), _count(p), f"{100 * p / ptot:.1f}%", _count(q), f"{100 * q / stot:.1f}%")
                              for cat, p, q in list(zip(d["categories"], d["pool"], d["selected"]))[:15]]))
    t = s.get("tune")
    if t and not t["empty"]:
        best = max((r["f"] for r in t["sweep"] + t["trace"]), default=None)
        console.print(Text(f"tuning ({t['metric']}): best {_n(best, 4)}, whole pool {_n(t['whole_pool'], 4)}, "
                           f"{len(t['sweep'])} τ points, {len(t['trace'])} weight trials"))
    else:
        console.print(Text("tuning: not tuned (no tune.json)", style="dim"))
    timings = (s["manifest"] or {}).get("timings") or {}
    if timings:
        console.print(_table("Time per step", ["step", "seconds"], [(k, float(v)) for k, v in timings.items()]))


def print_explain(d: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    d = printable_tree(d)
    style = "green" if d["selected"] else "red"
    console.print(Text(f"{d['id']}  ({d['source']}, row {d['row']})", style="bold"))
    console.print(Text(d["verdict"], style=style))
    if d["text"] is not None:
        text = d["text"] if len(d["text"]) <= 600 else d["text"][:599] + "…"
        console.print(Text(text, style="dim"))
    console.print(_table("Per view", ["view", "raw", "norm.", "weight", "contrib.", "Δ vs selected"],
                         [(v["view"], v["raw"], v["normalized"], v["weight"], v["contribution"], v["vs_selected_mean"])
                          for v in d["views"]]))
    for v in d["views"]:
        if v["reason"]:
            console.print(Text(f"  {v['view']}: {v['reason']}", style="dim"))
    rank = f"rank {d['rank']:,} of {d['candidates']:,}" if d["rank"] else "not a candidate"
    console.print(Text(f"combined score {_n(d['score'])} · {rank} · lowest selected score {_n(d['cut'])}"))
    if d["held_back_most_by"]:
        console.print(Text(f"furthest below the selected examples' mean contribution: {d['held_back_most_by']}"))
    dup = d["duplicates"]
    if dup:
        console.print(_table(f"Duplicate cluster {dup['cluster']} ({dup['kind']}, {dup['size']} members)",
                             ["member", "status", "score"],
                             [(Text(m["id"] + ("  ← this one" if m["id"] == d["id"] else "")), m["status"], m["score"])
                              for m in dup["members"]], numeric_from=2))
    else:
        console.print(Text("duplicate cluster: none (no duplicate found)", style="dim"))
    for key, value in d.items():
        if key.endswith("_cluster") and key != "dup_cluster":
            console.print(Text(f"{key}: {value}"))
