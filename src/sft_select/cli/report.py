"""The `report`, `explain` and `inspect` commands; cli.py calls `register` to add them to the app."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from sft_select.core import progress

RUN_DIR = typer.Argument(..., help="A finished run directory (manifest.json and scores.parquet).")
JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")


def register(app: typer.Typer, guarded) -> None:
    @app.command()
    @guarded
    def report(run_dir: Path = RUN_DIR,
               max_points: int = typer.Option(5000, "--max-points", min=100,
                                              help="Points drawn on the embedding map (a stratified sample)."),
               no_map: bool = typer.Option(False, "--no-map", help="Skip the embedding map (no embedder needed).")
               ) -> None:
        """Write RUN_DIR/report.html (one self-contained page) and RUN_DIR/summary.json."""
        from sft_select.report import write_report

        paths = write_report(run_dir, max_points=max_points, with_map=not no_map)
        progress.info(f"Report → {paths['report']}\nSummary → {paths['summary']}")

    @app.command()
    @guarded
    def explain(run_dir: Path = RUN_DIR,
                example_id: str = typer.Argument(..., metavar="ID", help="An example id, or a unique prefix of one."),
                as_json: bool = JSON) -> None:
        """Why one example was kept or dropped: per-view values, contributions, duplicate cluster, reason."""
        from sft_select.report.explain import explain as explain_one
        from sft_select.report.rundata import open_run
        from sft_select.report.terminal import print_explain

        result = explain_one(open_run(run_dir), example_id)
        if as_json:
            typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_explain(result)

    @app.command()
    @guarded
    def inspect(run_dir: Path = RUN_DIR, as_json: bool = JSON) -> None:
        """The report's summary as tables in the terminal (no map, no browser)."""
        from sft_select.report.html import json_safe
        from sft_select.report.rundata import open_run
        from sft_select.report.summary import build_summary
        from sft_select.report.terminal import print_inspect

        summary = json_safe(build_summary(open_run(run_dir), with_map=False))
        if as_json:
            typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        else:
            print_inspect(summary)
