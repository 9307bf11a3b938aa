"""What a tune prints while it evaluates, so that a long one is never silent: once the first evaluation is
timed, an estimate of the time left; then, every few seconds as evaluations finish, how many are done and
about how long is left.

The estimate is the plan's steps left (tune/plan.py) times the time per step so far: the seconds spent
computing over the steps computed or repeated (a subset the search asks for again costs nothing, and the
estimate learns how often that happens). A tune resumed from the cache uses the cached evaluations'
recorded times until it computes one. A long evaluation shows its own progress where the proxy has one;
these lines come between evaluations.
"""
from __future__ import annotations

import time
from typing import Callable

from sft_select.core.progress import info


def duration(seconds: float) -> str:
    """A short human duration: 0.4 s, 12 s, 7 min, 2.5 h."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class EtaLines:
    """Progress lines over `planned` steps; `finished` is called once per step: an evaluation computed,
    read from the cache (`reused`), or a repeat of one made before (`repeat`)."""

    def __init__(self, planned: int, *, clock: Callable[[], float] = time.perf_counter,
                 say: Callable[[str], None] | None = None, every: float = 5.0,
                 advance: Callable[[int], None] | None = None) -> None:
        self.planned = planned
        self.clock = clock
        self.say = say if say is not None else info
        self.every = every
        self.advance = advance  # a progress bar's, advanced by one per step
        self.counts = {"computed": 0, "reused": 0, "repeat": 0}
        self.seconds = {"computed": 0.0, "reused": 0.0}
        self.started = self.last_line = clock()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def per_step(self) -> float | None:
        """Seconds per step: measured on the steps computed or repeated, else as the cached ones recorded."""
        c = self.counts
        if c["computed"]:
            return self.seconds["computed"] / (c["computed"] + c["repeat"])
        if c["reused"] and self.seconds["reused"] > 0:
            return self.seconds["reused"] / c["reused"]
        return None

    def left(self) -> float | None:
        per = self.per_step()
        return None if per is None else max(self.planned - self.done, 0) * per

    def finished(self, seconds: float, *, how: str) -> None:
        self.counts[how] += 1
        if self.advance is not None:
            self.advance(1)
        if how in self.seconds:
            self.seconds[how] += seconds
        self.planned = max(self.planned, self.done)
        now = self.clock()
        if self.done >= self.planned:
            return
        if how == "computed" and self.counts["computed"] == 1:
            self.say(f"tune: the first evaluation took {duration(seconds)}; about {duration(self.left())} for "
                     f"the {self.planned - self.done} left (an estimate, updated as evaluations finish)")
            self.last_line = now
        elif now - self.last_line >= self.every:
            self.say(self.line(now))
            self.last_line = now

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        left, reused = self.left(), self.counts["reused"]
        return (f"tune: {self.done}/{self.planned} evaluations" + (f" ({reused} reused)" if reused else "")
                + f", {duration(now - self.started)} so far"
                + (f", about {duration(left)} left (estimate)" if left is not None else ""))

    def summary(self) -> str:
        """The closing line: how many evaluations, how long, and how many came from the cache."""
        c = self.counts
        text = (f"tune: {c['computed'] + c['reused']} evaluations in {duration(self.clock() - self.started)}"
                + (f"; {c['repeat']} more points of the search repeated a subset already evaluated"
                   if c["repeat"] else ""))
        if c["reused"]:
            text += f"; {c['reused']} reused from the cache of an earlier tune, {c['computed']} computed"
        return text
