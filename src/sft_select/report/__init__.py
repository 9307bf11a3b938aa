"""The run report: summary.json (every figure as numbers) and report.html (one self-contained page).

`write_report(run_dir)` reads a finished run directory; `report_after_run` is the hook the pipeline calls
at the end of every run, and never lets a report problem cost the run its outputs.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from sft_select.core.record import Example
from sft_select.executors import pool as parallel


def write_report(run_dir: str | Path, *, max_points: int = 5000, with_map: bool = True,
                 examples: Sequence[Example] | None = None, manifest: dict[str, Any] | None = None,
                 table: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write RUN_DIR/summary.json and RUN_DIR/report.html atomically; returns their paths.

    `examples`, `manifest` and `table` (all in memory at the end of a run) spare re-reading them.
    """
    return _write(run_dir, max_points=max_points, with_map=with_map, examples=examples, manifest=manifest,
                  table=table)[0]


def _write(run_dir, *, max_points, with_map, examples, manifest, table) -> tuple[dict[str, Path], dict[str, Any]]:
    """`write_report`, also returning the summary (the end of a run prints its length warning)."""
    from sft_select.io.atomic import atomic_open, write_json
    from sft_select.report.html import json_safe, render_html
    from sft_select.report.rundata import open_run
    from sft_select.report.summary import build_summary

    data = open_run(run_dir, examples=examples, manifest=manifest, table=table)
    summary = json_safe(build_summary(data, max_points=max_points, with_map=with_map))
    page = render_html(summary, data.text)
    run_dir = Path(run_dir)
    write_json(run_dir / "summary.json", summary)
    with atomic_open(run_dir / "report.html") as fh:
        fh.write(page)
    return {"summary": run_dir / "summary.json", "report": run_dir / "report.html"}, summary


def _one_blas_thread():
    """The report's linear algebra is small (a PCA of <= 5,000 points): on one BLAS thread it takes
    milliseconds, where OpenBLAS's threads spin and wait far longer for a small eigh while another
    process holds a core."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency, always installed

    return threadpool_limits(1)


def report_after_run(out: Path, report_cfg: Any, examples: Sequence[Example] | None = None, *,
                     manifest: dict[str, Any] | None = None, table: pd.DataFrame | None = None) -> Path | None:
    """Write the report at the end of a run; on any failure warn and carry on (the outputs are saved)."""
    return report_alongside(out, report_cfg, examples, manifest=manifest, table=table, background=False)()


def report_alongside(out: Path, report_cfg: Any, examples: Sequence[Example] | None = None, *,
                     manifest: dict[str, Any] | None = None, table: pd.DataFrame | None = None,
                     background: bool = True) -> Callable[[], Path | None]:
    """Start the report of a run that is being finished; returns the call that waits for it, says where
    it is and returns its path (None, with a warning, if it failed: a report problem never costs a run
    its outputs). With `background` and worker processes on, a forked worker writes it while this
    process writes the outputs: the two are of similar length, each mostly on one core."""
    if not getattr(report_cfg, "enabled", True):
        return lambda: None
    job = partial(_write_safely, out, int(getattr(report_cfg, "max_points", 5000)), examples, manifest, table)
    pending = parallel.background(job, [None]) if background else None
    done = job([None]) if pending is None else None

    def wait() -> Path | None:
        from rich.markup import escape

        from sft_select.core.progress import info

        try:
            path, problem, warning = pending.result() if pending is not None else done
        except Exception as exc:  # noqa: BLE001 - the worker died, or its answer did not come back
            path, problem, warning = None, f"{type(exc).__name__}: {exc}", None
        if problem is not None:
            info(f"[yellow]warning:[/yellow] the report could not be written ({problem}); "
                 f"the run's outputs are complete. Retry with `sft-select report {out}`.")
            return None
        if warning:  # one line, and only when a score mostly tracks length (see lengthbias.py)
            info(f"[yellow]warning:[/yellow] {escape(warning)}")
        info(f"Report → {path}")
        return path

    wait.cancel = pending.cancel if pending is not None else (lambda: None)  # type: ignore[attr-defined]
    return wait


def _write_safely(out: Path, max_points: int, examples, manifest, table,
                  _part) -> tuple[Path | None, str | None, str | None]:
    """(report path, problem, length warning): the warning is a string, so it comes back from a worker."""
    from sft_select.report.lengthbias import length_warning

    try:
        with _one_blas_thread():
            paths, summary = _write(out, max_points=max_points, with_map=True, examples=examples,
                                    manifest=manifest, table=table)
    except Exception as exc:  # noqa: BLE001 - a report must never lose the run's outputs
        return None, f"{type(exc).__name__}: {exc}", None
    return paths["report"], None, length_warning(summary.get("length_correlation"))


__all__ = ["write_report", "report_after_run", "report_alongside"]
