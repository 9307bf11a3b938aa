"""The `sft-select` command line. Every flag maps to a config field; errors exit 2 with one message."""
from __future__ import annotations

import errno
import inspect
import signal
import sys
from functools import partial, wraps
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.markup import escape

from sft_select.cli.flags import PROXY_MODELS, parse_weights, proxy_override  # noqa: F401 (re-exported)
from sft_select.cli.push import PUSH_TO_HUB, check_push, push_selection
from sft_select.core import progress
from sft_select.core.errors import ConfigError, SftSelectError, Terminated
from sft_select.core.textsafe import clip

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Select the best subset of a supervised fine-tuning dataset.")


def guarded(fn: Callable | None = None, *, resumes: bool = True) -> Callable:
    """Turn user errors into one clear line and exit code 2; Ctrl-C into exit 130. `resumes`: the command
    caches its finished steps (`run`, `score`, `tune`), so the stop message may say that running it again resumes;
    the other commands are registered with `once`, which says no such thing."""
    if fn is None:
        return lambda f: guarded(f, resumes=resumes)

    def stopped(exc: KeyboardInterrupt):
        return _stopped(exc, resumes=resumes)

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SftSelectError as exc:
            _error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into `Terminated` by `entry`
            stopped(exc)
        except OSError as exc:
            if _SIGNALS_SEEN:  # see below: after a signal, any error is that stop
                stopped(Terminated() if _SIGNALS_SEEN[-1] == signal.SIGTERM else KeyboardInterrupt())
            message = os_error_message(exc, kwargs.get("out") or kwargs.get("run_dir") or kwargs.get("path"),
                                       resumes=resumes)
            if message is None:
                raise
            _error(message)
            raise typer.Exit(2) from None
        except Exception:
            # A library whose C code was running when the signal's KeyboardInterrupt was raised can turn
            # it into an error of its own (numpy once gave a TypeError about structured arrays): after
            # a signal, any error is that stop.
            if not _SIGNALS_SEEN:
                raise
            stopped(Terminated() if _SIGNALS_SEEN[-1] == signal.SIGTERM else KeyboardInterrupt())

    return wrapper


def _error(message: str) -> None:
    # escape: the message quotes the user's file names and field names, which may hold '[...]'; clip: it
    # may quote field values too, so control characters are shown escaped, and a huge one is cut short
    progress.console.print(f"[red]error:[/red] {escape(clip(message, 10_000))}", markup=True, highlight=False,
                           soft_wrap=True)


# What the system refused, and what the user can do about it. A full disk is the one to expect at the
# end of a long run: every output is written atomically and finished steps are cached, so freeing space
# and running the same command again resumes where it stopped.
_OS_HINTS = {
    errno.ENOSPC: "free some space and run the same command again",
    errno.EDQUOT: "free some space (or raise the quota) and run the same command again",
    errno.EROFS: "the file system is read-only; pick another --out",
    errno.EACCES: "no permission; pick a folder you can write (--out) or fix the permissions",
    errno.EPERM: "not permitted; pick a folder you can write (--out) or fix the permissions",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "a folder where a file was expected",
    errno.ENAMETOOLONG: "the name is too long for the file system",
    errno.EFBIG: "the file is too large for the file system",
}


_RESUMES = (errno.ENOSPC, errno.EDQUOT)  # where running again is the advice, and a cache makes it cheap


def os_error_message(exc: OSError, where: Any = None, *, resumes: bool = True) -> str | None:
    """One line for an OSError the user can act on (disk full, read-only, no permission, a file where a
    folder should be…), naming the path; None for others (a bug: the traceback is worth more). `resumes`:
    the command caches its finished steps (see `guarded`)."""
    hint = _OS_HINTS.get(exc.errno)
    if hint is not None and resumes and exc.errno in _RESUMES:
        hint += ": finished steps are cached and it resumes"
    if hint is None and exc.filename is None:  # no path and nothing to suggest
        return None
    path = exc.filename if exc.filename is not None else where
    what = exc.strerror or type(exc).__name__
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    head = f"{path}: {what}" if path is not None else what
    return head + (f" ({hint})" if hint else "")


def _print_version(value: bool) -> None:
    if value:
        from sft_select import __version__

        typer.echo(f"sft-select {__version__}")
        raise typer.Exit()


@app.callback()
def main(quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="Print per-step details."),
         version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                      help="Print the version and exit.")) -> None:
    progress.configure(quiet=quiet, verbose=verbose)


def overrides(*, n: int | None = None, fraction: float | None = None, threshold: float | None = None,
              fmt: str | None = None, on_error: str | None = None, seed: int | None = None,
              views: str | None = None, weights: str | None = None, embedder: str | None = None,
              keep: str | None = None, engine: str | None = None, ray_address: str | None = None,
              lang: str | None = None, decontaminate: list[Path] | None = None,
              streaming: str | None = None, workers: str | None = None,
              proxy: str | None = None, strategy: str | None = None, output_format: str | None = None,
              split: str | None = None) -> dict[str, Any]:
    """CLI flags as a nested config dict; only flags the user gave are set."""
    o: dict[str, Any] = {}
    if n is not None and fraction is not None:  # caught here, where the message can name the flags
        raise ConfigError("-n and --fraction both set the selection's size: give one of them")

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            o.setdefault(section, {})[key] = value

    if n is not None or fraction is not None or threshold is not None:
        # A size given on the command line replaces the config's size rather than adding to it.
        o["select"] = {"n": n, "fraction": fraction, "threshold": threshold}
    put("select", "strategy", strategy)  # Config checks the name against the strategy registry
    put("input", "format", fmt)
    put("input", "on_error", on_error)
    put("input", "split", split)
    put("output", "format", output_format)
    put("views", "use", [v.strip() for v in views.split(",")] if views else None)
    put("embedding", "model", embedder)
    put("preprocess", "keep", keep)
    put("engine", "name", engine)
    put("engine", "ray_address", ray_address)
    put("engine", "streaming", streaming)
    put("engine", "workers", int(workers) if workers is not None and workers.strip().isdigit() else workers)
    if lang:
        o.setdefault("preprocess", {})["filters"] = {"lang": [c.strip() for c in lang.split(",") if c.strip()]}
    if decontaminate:
        o.setdefault("preprocess", {})["decontaminate"] = {"files": [str(p) for p in decontaminate]}
    if weights:
        o.setdefault("views", {})["settings"] = parse_weights(weights)
    if seed is not None:
        o["seed"] = seed
    if proxy is not None:
        o["evaluate"] = proxy_override(proxy)
    check_flags(o)
    return o


# The config key each flag sets, so that a bad value is reported by the flag the user typed, not by a
# config key or the manifest a `select` starts from.
FLAG_NAMES = {"select.n": "-n", "select.fraction": "--fraction", "select.threshold": "--threshold",
              "select.strategy": "--strategy", "input.format": "--format", "input.on_error": "--on-error",
              "input.split": "--split", "output.format": "--output-format", "views.use": "--views",
              "views.settings": "--weights", "embedding.model": "--embedder", "preprocess.keep": "--keep",
              "engine.name": "--engine", "engine.streaming": "--streaming", "engine.workers": "--workers",
              "engine.ray_address": "--ray-address", "preprocess.filters.lang": "--lang", "seed": "--seed"}


def check_flags(flags: dict[str, Any]) -> None:
    """The flags alone over the default config: a bad value is named by its flag (`--threshold: …`)."""
    from sft_select.config.schema import build_config

    build_config(flags, source="command line", labels=FLAG_NAMES)


# Options shared by `run` and `score`; typer needs them spelled out per command.
OUT = typer.Option(..., "--out", "-o", help="Run directory to write.")
CONFIG = typer.Option(None, "--config", "-c", help="YAML config file.")
TARGET = typer.Option(None, "--target", help="Examples of the target task (relevance views).")
FMT = typer.Option(None, "--format", help="alpaca | sharegpt | openai | prompt_completion | text_label")
ON_ERROR = typer.Option(None, "--on-error", help="fail (default) or skip bad rows into rejected.jsonl")
SEED = typer.Option(None, "--seed")
VIEWS = typer.Option(None, "--views", help="Comma-separated view names or groups (quality, relevance, …).")
WEIGHTS = typer.Option(None, "--weights", help="name=weight,… (finite, >= 0): views not named keep their config "
                       "weight, else share what the named ones leave (0 once they sum to 1); all normalized to "
                       "sum to 1. `select` applies them to the run's own config, not to an earlier select's.")
EMBEDDER = typer.Option(None, "--embedder", help="static-minilm (default), hashing, or a sentence-transformers path")
FORCE = typer.Option(False, "--force", help="Replace an existing finished run directory.")
ENGINE = typer.Option(None, "--engine", help="local (default) or ray")
STREAMING = typer.Option(None, "--streaming", help="auto (default: by input size), on or off: read the pool "
                         "chunk by chunk, for pools larger than memory.")
WORKERS = typer.Option(None, "--workers", help="Local engine: processes for the per-example steps, a number "
                       "or auto (default: one per CPU).")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="Join this Ray cluster (default: a local Ray instance).")
STRATEGY = typer.Option(None, "--strategy", help="Selection strategy (select.strategy): auto (default), top, "
                        "random, quota, greedy, facility, coverage, active, stratified.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print nothing but errors.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Print per-step details.")
LANG = typer.Option(None, "--lang", help="Keep only examples in these languages, e.g. en or en,de (lingua, offline).")
PROXY = typer.Option(None, "--proxy", help="The model that measures f(S) when tuning: auto, classifier, lm, "
                     "coverage (instruction data on CPU), or a "
                     "classifier model: logreg, mlp (fits S, flipped labels included, as a fine-tune does), encoder.")
OUTPUT_FORMAT = typer.Option(None, "--output-format", help="Schema of the selected rows: same (default: the "
                             "input's rows as read), messages, alpaca, sharegpt, prompt_completion or text.")
SPLIT = typer.Option(None, "--split", help="The split to read from a DatasetDict folder or a Hub dataset "
                     "(default: train).")
DECONTAMINATE = typer.Option(None, "--decontaminate", help="Drop examples sharing a 13-word n-gram with this eval "
                             "file (repeatable).")


def _verbosity(quiet: bool, verbose: bool) -> None:
    """Accept -q/-v after the command too (`sft-select run … -q`), not only before it."""
    if quiet or verbose:
        progress.configure(quiet=quiet, verbose=verbose)


def _run(inputs: List[Path], out: Path, config: Optional[Path], target: Optional[Path], force: bool,
         stop_after: str, validation: Optional[Path] = None, no_tune: bool = False, **flags: Any) -> Any:
    from sft_select.config.schema import load_config
    from sft_select.pipelines.in_memory import run as run_pipeline

    extra = {"tune": {"enabled": False}} if no_tune else {}
    cfg = load_config(config, {**overrides(**flags), **extra})
    return run_pipeline(inputs, out, cfg, target=target, force=force, stop_after=stop_after,
                        validation=validation)


def _say_if_nothing_selected(table: Any, threshold: float | None) -> None:
    """A --threshold above every combined score selects nothing: say so (even under -q, as the selected
    file is empty), with the highest score, rather than leave an empty file to be found."""
    if threshold is None or int(table["selected"].sum()) > 0:
        return
    best = table["score"].max() if "score" in table else None
    top = f"the highest combined score is {best:.3f}; " if best is not None and best == best else ""
    progress.say(f"[yellow]warning:[/yellow] --threshold {threshold:g} selected nothing: {top}lower it, or "
                 "pick a size with -n or --fraction")


@app.command()
@guarded
def run(inputs: List[Path] = typer.Argument(..., help="Input files (jsonl, json, csv, parquet, datasets folder)."),
        out: Path = OUT, config: Optional[Path] = CONFIG, target: Optional[Path] = TARGET,
        n: Optional[int] = typer.Option(None, "-n", help="Keep at most N examples."),
        fraction: Optional[float] = typer.Option(None, "--fraction", help="Keep this share of the pool."),
        threshold: Optional[float] = typer.Option(None, "--threshold", help="Keep combined score >= T."),
        fmt: Optional[str] = FMT, on_error: Optional[str] = ON_ERROR, seed: Optional[int] = SEED,
        views: Optional[str] = VIEWS, weights: Optional[str] = WEIGHTS, embedder: Optional[str] = EMBEDDER,
        force: bool = FORCE, quiet: bool = QUIET, verbose: bool = VERBOSE, engine: Optional[str] = ENGINE,
        ray_address: Optional[str] = RAY_ADDRESS, lang: Optional[str] = LANG,
        decontaminate: Optional[List[Path]] = DECONTAMINATE, streaming: Optional[str] = STREAMING,
        workers: Optional[str] = WORKERS,
        validation: Optional[Path] = typer.Option(None, "--validation", help="Held-out examples of the task: "
                                                  "tune view weights and τ on them before selecting."),
        no_tune: bool = typer.Option(False, "--no-tune", help="Select with the given weights even with --validation."),
        proxy: Optional[str] = PROXY, strategy: Optional[str] = STRATEGY,
        output_format: Optional[str] = OUTPUT_FORMAT, split: Optional[str] = SPLIT,
        push_to_hub: Optional[str] = PUSH_TO_HUB) -> None:
    """Run the whole pipeline: load, preprocess, score, combine, (tune,) select, write RUN_DIR."""
    _verbosity(quiet, verbose)
    check_push(push_to_hub)  # offline or no token: refused before the run, not after it
    result = _run(inputs, out, config, target, force, "select", validation=validation, no_tune=no_tune, n=n,
                  fraction=fraction, threshold=threshold, fmt=fmt, on_error=on_error, seed=seed, views=views,
                  weights=weights, embedder=embedder, engine=engine, ray_address=ray_address, lang=lang,
                  decontaminate=decontaminate, streaming=streaming, workers=workers, proxy=proxy,
                  strategy=strategy, output_format=output_format, split=split)
    _say_if_nothing_selected(result.table, threshold)
    push_selection(result.run_dir, push_to_hub)


@app.command()
@guarded
def score(inputs: List[Path] = typer.Argument(...), out: Path = OUT, config: Optional[Path] = CONFIG,
          target: Optional[Path] = TARGET, fmt: Optional[str] = FMT, on_error: Optional[str] = ON_ERROR,
          seed: Optional[int] = SEED, views: Optional[str] = VIEWS, weights: Optional[str] = WEIGHTS,
          embedder: Optional[str] = EMBEDDER, force: bool = FORCE, quiet: bool = QUIET,
          verbose: bool = VERBOSE, split: Optional[str] = SPLIT) -> None:
    """Stop after scoring: writes scores.parquet and the manifest; `select` picks from them later."""
    _verbosity(quiet, verbose)
    _run(inputs, out, config, target, force, "score", fmt=fmt, on_error=on_error, seed=seed, views=views,
         weights=weights, embedder=embedder, split=split)


@app.command("select")
@guarded(resumes=False)
def select_cmd(run_dir: Path = typer.Argument(..., help="A run directory with scores.parquet."),
               n: Optional[int] = typer.Option(None, "-n"),
               fraction: Optional[float] = typer.Option(None, "--fraction"),
               threshold: Optional[float] = typer.Option(None, "--threshold"), weights: Optional[str] = WEIGHTS,
               seed: Optional[int] = SEED,
               keep: Optional[str] = typer.Option(None, "--keep", help="best | first member of duplicate clusters"),
               strategy: Optional[str] = STRATEGY, output_format: Optional[str] = OUTPUT_FORMAT,
               quiet: bool = QUIET, verbose: bool = VERBOSE, push_to_hub: Optional[str] = PUSH_TO_HUB) -> None:
    """Re-select from a run's cached scores with a new N, τ or weights, without re-scoring.

    Each select starts from the run's own config (as `run` resolved it, or as `tune --apply` last set it)
    plus this command's flags, never from what an earlier select saved: the same command always gives the
    same selection. --weights works as in `run`: views it does not name keep the run's config weight if it
    set one, else share what the named ones leave (0 once they sum to 1 or more); then all are normalized
    to sum to 1.
    """
    _verbosity(quiet, verbose)
    check_push(push_to_hub)
    from sft_select.pipelines.reselect import reselect
    from sft_select.rundir.reopen import read_run_checked

    flags = overrides(n=n, fraction=fraction, threshold=threshold, weights=weights, seed=seed, keep=keep,
                      strategy=strategy, output_format=output_format)
    manifest, _ = read_run_checked(run_dir, need_config=True)  # one clear error for a damaged run
    result = reselect(run_dir, reselect_overrides(manifest, flags))
    _say_if_nothing_selected(result.table, threshold)
    push_selection(result.run_dir, push_to_hub)


def reselect_overrides(manifest: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """Overrides that turn the config a run's manifest holds now (`config`, which earlier selects
    rewrote) into the run's own config (`run_config`) plus `flags`; `reselect` merges them over `config`.

    The run's config is a complete dump, so merged over `config` it replaces every setting; what it
    cannot remove, views.settings entries an earlier select added (`--weights b=1`), are reset to unset.
    Manifests written before `run_config` existed fall back to `config`.
    """
    from sft_select.config.schema import ViewSettings, deep_merge

    current = manifest["config"]
    base = manifest.get("run_config") if isinstance(manifest.get("run_config"), dict) else current
    target = deep_merge(base, flags)
    views = dict(target.get("views") or {})
    settings = dict(views.get("settings") or {})
    unset = ViewSettings().model_dump(mode="json")
    for name in ((current.get("views") or {}).get("settings") or {}):
        settings.setdefault(name, dict(unset))
    views["settings"] = settings
    target["views"] = views
    return target


@app.command()
@guarded(resumes=False)
def init(path: Path = typer.Argument(Path("sft-select.yaml"), help="Where to write the example config."),
         force: bool = FORCE) -> None:
    """Write a commented example config."""
    from sft_select.cli.init import write_example_config

    write_example_config(path, force=force)
    progress.info(f"Wrote {escape(str(path))}")


_SIGNALS_SEEN: list[int] = []  # the stop signals this process received (see `guarded`)


def _stopped(exc: KeyboardInterrupt, *, resumes: bool = False):
    what = "terminated" if isinstance(exc, Terminated) else "interrupted"
    # Only `run`, `score` and `tune` cache their finished steps (the views' scores, the tune's evaluations);
    # the other commands start over.
    tail = ": finished steps are cached; run the same command to resume" if resumes else ""
    progress.console.print(what + tail)
    raise typer.Exit(getattr(exc, "exit_code", 130)) from None


def _terminate(signum: int, frame: Any) -> None:
    _SIGNALS_SEEN.append(signum)
    raise Terminated()


def _interrupt(signum: int, frame: Any) -> None:
    _SIGNALS_SEEN.append(signum)
    raise KeyboardInterrupt()


# Commands that live in their own modules register themselves on the app.
from sft_select.cli.dedup import dedup as _dedup  # noqa: E402
from sft_select.cli.report import register as _register_report  # noqa: E402
from sft_select.cli.train_quality import register as _register_train_quality  # noqa: E402
from sft_select.cli.tune import register as _register_tune  # noqa: E402

once = partial(guarded, resumes=False)  # commands that cache nothing: a stop starts them over
app.command("dedup")(once(_dedup))
_register_train_quality(app, once)
_register_report(app, once)
_register_tune(app, guarded, once)  # tune caches its evaluations (tune/evaluations.py); augment nothing


def with_verbosity(fn: Callable) -> Callable:
    """`fn` with -q/--quiet and -v/--verbose of its own (`sft-select init x.yaml -q`), where it has none."""
    sig = inspect.signature(fn)
    if "quiet" in sig.parameters:
        return fn

    @wraps(fn)
    def wrapper(*args: Any, quiet: bool = False, verbose: bool = False, **kwargs: Any) -> Any:
        _verbosity(quiet, verbose)
        return fn(*args, **kwargs)

    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool)
             for name, option in (("quiet", QUIET), ("verbose", VERBOSE))]
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "quiet": bool, "verbose": bool}
    return wrapper


for _command in app.registered_commands:  # every command takes -q and -v, wherever it was defined
    _command.callback = with_verbosity(_command.callback)


def entry() -> None:
    # A batch scheduler stops a job with SIGTERM before SIGKILL: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where the shell ignores it
        signal.signal(signal.SIGINT, _interrupt)
    app(prog_name="sft-select")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
