"""Progress bars for long steps: each appears once its step has run `SHOW_AFTER` seconds, whatever its
item count, with elapsed time and an ETA, in at most the console's width (80 columns included).

Why time and not item count: 300 rows through an LM ran 16 minutes with no bar (bars were hidden under
2,000 items), while 100k cheap rows take a second. A bar reveals itself from a watcher thread, so a step
that never advances (one slow batch) still shows its elapsed time.

All shown bars are rows of one live display (rich allows one at a time), so a step inside another (the
LM forward passes inside a scoring pass) adds a row. Where the console is not a terminal (a CI log) no
bar is drawn, which would flood the log with control characters: a plain status line is printed when
the bar would appear, then every `LOG_EVERY` seconds.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.errors import LiveError
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sft_select.core.textsafe import printable

SHOW_AFTER = 2.0  # seconds a step runs before its bar appears: quicker steps print nothing
LOG_EVERY = 30.0  # seconds between status lines where the console is not a terminal
MAX_WIDTH = 100  # a row spans at most this many cells (fewer on a narrower console)
BAR_CELLS = (10, 40)  # the bar's own width, least and most; the description is shortened to keep it

clock: Callable[[], float] = time.monotonic  # what elapsed times and ETAs read; tests put a fake clock here

_lock = threading.RLock()  # the watcher threads and the refresh thread read what the main thread changes
_open: list["Bar"] = []
_live: Live | None = None


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _short(n: int) -> str:
    return f"{n / 1e3:.0f}k" if n < 999_500 else f"{n / 1e6:.1f}M"


def count(done: int, total: int) -> str:
    """"done/total"; from 100,000 on in thousands or millions, so token counts stay narrow."""
    return f"{done}/{total}" if total < 100_000 else f"{_short(done)}/{_short(total)}"


def clip(text: str, cells: int) -> str:
    """`text` in at most `cells` cells, its end replaced by an ellipsis when it is cut."""
    if cell_len(text) <= cells:
        return text
    out = Text(text, no_wrap=True, overflow="ellipsis")
    out.truncate(max(cells, 1), overflow="ellipsis")
    return out.plain if cells >= 1 else ""


class Bar:
    """One step of `total` units: `advance(n)` as units finish here, and `poll()`, if given, what other
    processes finished (a shared counter). Shown once the step has run `show_after` seconds (measured
    from `open`), drawn by the live display on a terminal, else as status lines."""

    def __init__(self, desc: str, total: int, console: Console, show_after: float = SHOW_AFTER,
                 poll: Callable[[], int] | None = None):
        self.desc = printable(" ".join(desc.split()))  # one line, and a path's control characters as escapes
        self.total = max(0, int(total))
        self.console = console
        self.show_after = show_after
        self.done = 0
        self.poll = poll
        self.started = clock()
        self.shown = False
        self.closed = False
        self.drawn = console.is_terminal and not console.is_dumb_terminal  # else: status lines
        self.logged = 0.0  # when the last status line was printed
        self._stop = threading.Event()

    # -- the step's side ---------------------------------------------------------------------------------

    def open(self) -> "Bar":
        with _lock:
            _open.append(self)
        if self.show_after <= 0:
            self.tick()
        if not (self.shown and self.drawn):  # a drawn bar is refreshed by the live display
            threading.Thread(target=self._watch, name="sft-select-progress", daemon=True).start()
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.shown and self.drawn:
            return
        now = clock()  # a clock read per advance, which comes per batch, not per item
        if now - (self.logged if self.shown else self.started) >= (LOG_EVERY if self.shown else self.show_after):
            self.tick(now)

    def close(self) -> None:
        global _live
        self._stop.set()
        live = None
        with _lock:
            self.closed = True
            if self in _open:
                _open.remove(self)
            if _live is not None and not any(b.shown and b.drawn for b in _open):
                live, _live = _live, None
        if live is not None:  # outside the lock: the refresh thread takes it while it holds the live's own
            live.stop()  # transient: the rows are erased

    # -- what the watcher (or an advance) does ------------------------------------------------------------

    def _watch(self) -> None:
        wait = self.show_after
        while not self._stop.wait(max(wait, 0.0)):
            self.tick()
            if self.shown and self.drawn:
                return
            wait = LOG_EVERY if self.shown else 0.25  # a fake clock in tests may lag the real one

    def tick(self, now: float | None = None) -> None:
        """Show the bar when its time has come; where it is not drawn, print a status line when one is due."""
        now = clock() if now is None else now
        with _lock:
            if self.closed or (not self.shown and now - self.started < self.show_after):
                return
            reveal, self.shown = not self.shown, True
            if reveal and self.drawn:
                self._start_live()
            due = not self.drawn and (reveal or now - self.logged >= LOG_EVERY)
            if due:
                self.logged = now
        if due:  # printed outside the lock, as the live display's refresh thread takes it
            self.console.print(self.status(now, self.console.width), markup=False, highlight=False,
                               soft_wrap=True)

    def _start_live(self) -> None:
        global _live
        if _live is not None:
            return
        live = Live(Board(), console=self.console, transient=True, refresh_per_second=4,
                    redirect_stdout=False, redirect_stderr=False)
        try:
            live.start()
        except LiveError:  # another library's live display owns the console: print status lines instead
            self.drawn = False
            return
        _live = live

    # -- what a row shows ---------------------------------------------------------------------------------

    def current(self) -> int:
        return self.done + (self.poll() if self.poll is not None else 0)

    def eta(self, now: float) -> float | None:
        """Seconds left at the mean rate so far (a step with few, slow units has no recent rate to go by)."""
        done = self.current()
        if done <= 0 or self.total <= 0:
            return None
        return (now - self.started) * max(0, self.total - done) / done

    def times(self, now: float) -> str:
        eta = self.eta(now)
        return f"{duration(now - self.started)} elapsed, ETA {duration(eta) if eta is not None else '-:--'}"

    def status(self, now: float, width: int) -> str:
        """The plain line a non-terminal gets: description, count, percentage, elapsed and ETA."""
        done = self.current()
        pct = f" ({100 * min(done, self.total) // self.total}%)" if self.total else ""
        tail = f": {count(done, self.total)}{pct}, {self.times(now)}"
        return clip(self.desc, max(8, min(width, MAX_WIDTH) - cell_len(tail))) + tail


class Board:
    """The rows of every shown, drawn bar: description, bar, count, elapsed and ETA. The description is
    what gives way, so the bar keeps at least BAR_CELLS[0] cells within the console's width."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = clock()
        with _lock:
            bars = [b for b in _open if b.shown and b.drawn]
        if not bars:
            return
        width = min(options.max_width, MAX_WIDTH)
        done = [b.current() for b in bars]
        rights = [f"{count(d, b.total)} {b.times(now)}" for b, d in zip(bars, done)]
        # As wide as the full count needs from the start, so the description does not shift as it grows.
        right = max(max(cell_len(r) for r in rights), *(cell_len(f"{count(b.total, b.total)} {b.times(now)}")
                                                          for b in bars))
        room = width - right - 2  # two single spaces between the three parts
        desc = min(max(cell_len(b.desc) for b in bars), max(0, room - BAR_CELLS[0]))
        cells = max(1, min(BAR_CELLS[1], room - desc))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=desc, no_wrap=True)
        grid.add_column(width=cells, no_wrap=True)
        grid.add_column(width=right, no_wrap=True)
        for b, d, r in zip(bars, done, rights):
            counted, times = r.split(" ", 1)
            grid.add_row(Text(clip(b.desc, desc), no_wrap=True),
                         ProgressBar(total=max(b.total, 1), completed=min(d, max(b.total, 1)), width=cells),
                         Text.assemble((counted, "progress.download"), " ", (times, "progress.remaining")))
        yield grid
