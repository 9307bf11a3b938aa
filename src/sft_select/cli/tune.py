"""`sft-select tune` and `sft-select augment`: the commands that work on a finished (or scored) run directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.markup import escape

from sft_select.core import progress


def _tune_overrides(n, fraction, seed, proxy, rounds, trials, search, holdout, strategies=None,
                    active_grid=None) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if n is not None or fraction is not None:
        o["select"] = {"n": n, "fraction": fraction}
    if seed is not None:
        o["seed"] = seed
    if proxy is not None:
        from sft_select.cli.flags import proxy_override

        o["evaluate"] = proxy_override(proxy)
    t = {k: v for k, v in {"rounds": rounds, "trials": trials, "search": search, "holdout": holdout,
                           "strategies": [s.strip() for s in strategies.split(",") if s.strip()]
                           if strategies is not None else None}.items()
         if v is not None}
    if active_grid is not None:  # active's settings the loop tries (tune/params.py)
        from sft_select.tune.config import parse_active_grid

        t.update(parse_active_grid(active_grid))
    if t:
        o["tune"] = t
    return o


def tune(run_dir: Path = typer.Argument(..., help="A run directory with scores.parquet (run or score)."),
         validation: Path = typer.Option(..., "--validation", help="Held-out examples of the task."),
         n: Optional[int] = typer.Option(None, "-n", help="Cap |S| ≤ N (default: the run's)."),
         fraction: Optional[float] = typer.Option(None, "--fraction"),
         proxy: Optional[str] = typer.Option(None, "--proxy", help="auto | classifier | lm | coverage, or a classifier "
                                             "model: logreg | mlp (fits S, flips included, as a fine-tune does) | "
                                             "encoder"),
         rounds: Optional[int] = typer.Option(None, "--rounds"),
         trials: Optional[int] = typer.Option(None, "--trials", help="Weight candidates per round."),
         search: Optional[str] = typer.Option(None, "--search", help="dirichlet | optuna"),
         holdout: Optional[float] = typer.Option(None, "--holdout", help="Share of the validation file kept out."),
         strategies: Optional[str] = typer.Option(None, "--strategies",
                                                  help="Selection strategies also tried, e.g. coverage,active."),
         active_grid: Optional[str] = typer.Option(None, "--active-grid", help="active's settings also tried, "
                                                   "e.g. 'skip=0,0.5,1;C=0.3,1,3' (keys seed, batch, skip, C, score)."),
         seed: Optional[int] = typer.Option(None, "--seed"),
         apply: bool = typer.Option(False, "--apply", help="Re-select the run with the tuned config.")) -> None:
    """Search view weights and τ for the best proxy score on a validation file (no re-scoring).

    Writes RUN_DIR/tune.json (the τ curve, the search trace, random and whole-pool baselines, holdout
    scores) and RUN_DIR/tuned-config.yaml, which `sft-select run --config` accepts as is. Each proxy
    evaluation is cached in RUN_DIR/cache/tune/: stopped and run again, it reuses the finished ones.
    """
    from sft_select.pipelines.tune import apply_tuned, tune_run
    from sft_select.tune.loop import holdout_line

    result, tuned = tune_run(run_dir, validation, _tune_overrides(n, fraction, seed, proxy, rounds, trials, search,
                                                                   holdout, strategies, active_grid))
    b, base = result.report["best"], result.report["baselines"]
    progress.info(f"best f={b['f']:.4f} (holdout {b['f_holdout']}) |S|={b['size']} τ={b['threshold']} "
                  f"weights={escape(str(b['weights']))}")
    if b["f_holdout"] is not None:
        progress.info(holdout_line(result.report))
    else:  # no holdout part (tune.holdout: 0): the tune part's figures are all there is
        progress.info(f"random same size: {base['random_mean']}; whole pool: f={base['whole_pool']['f']}")
    progress.info(f"Wrote {escape(str(run_dir / 'tune.json'))} and {escape(str(run_dir / 'tuned-config.yaml'))}")
    if apply:
        apply_tuned(run_dir, tuned)


def augment(run_dir: Path = typer.Argument(..., help="A finished run directory."),
            per_example: int = typer.Option(1, "--per-example", min=1, help="Copies per labelled example."),
            rate: float = typer.Option(0.1, "--rate", min=0.01, max=0.5, help="Share of words edited."),
            max_change: float = typer.Option(0.3, "--max-change", min=0.01, max=1.0,
                                             help="Back off above this word-level change ratio."),
            paraphrase: bool = typer.Option(False, "--paraphrase", help="Instruction data: LM rewrites of requests."),
            seed: int = typer.Option(0, "--seed")) -> None:
    """Write RUN_DIR/augmented.<fmt>: the selected rows plus marked augmented copies."""
    from sft_select.core.errors import ConfigError
    from sft_select.io.load import load
    from sft_select.io.writers import output_type, write_rows
    from sft_select.pipelines.augment import augment_classification, paraphrase_instructions
    from sft_select.rundir.reopen import reopen

    opened = reopen(run_dir, need_config=True)
    manifest, table = opened.manifest, opened.table
    cfg = {"format": None, "fields": {}, "on_error": "fail", **(manifest["config"].get("input") or {})}
    loaded = load(opened.inputs, fmt=cfg["format"], fields=cfg["fields"], on_error=cfg["on_error"])
    by_id = {ex.id: ex for ex in loaded.examples}
    chosen = [by_id[i] for i in table.loc[table["selected"].astype(bool), "id"] if i in by_id]
    if not chosen:
        raise ConfigError(f"{run_dir}: no selected examples to augment")
    if chosen[0].text is not None:
        extra, stats = augment_classification(chosen, per_example=per_example, p=rate, max_change=max_change,
                                              seed=seed, vocab_from=loaded.examples)
    elif paraphrase:
        extra, stats = paraphrase_instructions(chosen, seed=seed)
    else:
        raise ConfigError("instruction data is augmented by LM paraphrase: pass --paraphrase")
    path = write_rows([ex.original for ex in chosen] + [ex.original for ex in extra], run_dir / "augmented",
                      output_type(list(loaded.formats)))
    progress.info(f"Wrote {escape(str(path))}: {len(chosen)} selected + {stats.made} augmented rows "
                  f"({stats.backed_off} backed off)")


def register(app: typer.Typer, resuming: Callable, once: Callable) -> None:
    """`resuming` for a command whose finished steps are cached (tune's evaluations, so a stop message may
    say so), `once` for one that starts over."""
    app.command("tune")(resuming(tune))
    app.command("augment")(once(augment))
