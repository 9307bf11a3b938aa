"""Progress bars and console output, quiet-aware; one place so `--quiet` silences everything."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console

from sft_select.core import bars

_state = {"quiet": False, "verbose": False}
console = Console(stderr=True, highlight=False)


def configure(*, quiet: bool = False, verbose: bool = False) -> None:
    _state["quiet"], _state["verbose"] = quiet, verbose
    if quiet:
        _quiet_third_party()


def _quiet_third_party() -> None:
    """Silence the libraries' own output: transformers' "Loading weights" bar and load report (LM views,
    proxies), huggingface_hub's and `datasets`' bars (a datasets folder saved or loaded). Each reads its
    variable when imported, and takes the call when it already is."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    if "transformers" in sys.modules:
        logging = sys.modules["transformers"].utils.logging
        logging.disable_progress_bar()
        logging.set_verbosity_error()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
        sys.modules["datasets"].logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()


def say(message: str, style: str | None = None) -> None:
    """Print a message that may carry rich markup ([yellow]…[/yellow]); whatever it quotes from the user
    (paths, ids, view names, field values) the caller passes through `rich.markup.escape`.

    Control characters are shown as visible escapes (a path or value could hold ESC sequences), and a
    caller that forgot to escape costs a line printed as plain text, never the run: a '[/bold]' in a
    path is a rich MarkupError, raised after all the work is done."""
    from rich.errors import MarkupError

    from sft_select.core.textsafe import printable

    message = printable(message)
    try:
        console.print(message, style=style)
    except MarkupError:
        console.print(message, style=style, markup=False)


def info(message: str) -> None:
    if not _state["quiet"]:
        say(message)


def debug(message: str) -> None:
    if _state["verbose"] and not _state["quiet"]:
        say(message, style="dim")


def _ignore(n: int = 1) -> None:
    pass


@contextmanager
def progress_bar(desc: str, total: int, *, show_after: float = bars.SHOW_AFTER,
                 poll: Callable[[], int] | None = None) -> Iterator[Callable[[int], None]]:
    """A bar for a step of `total` units, advanced by the callable it yields (`advance(n)`, as units
    finish here) and by `poll()`, if given (units other processes finished: a shared counter). Shown
    once the step has run `show_after` seconds, whatever `total` is, with elapsed time and an ETA,
    shortened to the console's width; status lines instead where stderr is not a terminal
    (core/bars.py). Silent when quiet or without a description."""
    if _state["quiet"] or not desc:
        yield _ignore
        return
    bar = bars.Bar(desc, total, console, show_after, poll).open()
    try:
        yield bar.advance
    finally:
        bar.close()


class Timer:
    """Wall time per named step, for the manifest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)
