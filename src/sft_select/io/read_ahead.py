"""Per-example work on the examples read so far, while the rest of the input is still being parsed.

Reading the pool is serial (one core): parsing, building the examples. Work that needs only each example
itself (its content hash, the heuristic filters) can start before the whole input is read. As the
loader's list grows, one forked worker at a time takes the next part of the examples parsed so far
(once `every` are read; `every // 2` examples a part) and runs each job on that part; `finish()`
computes the rest over all the workers and returns each job's results for every example, by list
position. Results equal the jobs run over the whole list, as long as each job is per-example (a job of
a part is the concatenation of its examples' results).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

from sft_select.core.record import Example, join_texts
from sft_select.executors import pool as parallel

Job = Callable[[Sequence[Example]], list]


def _run_jobs(jobs: dict[str, Job], part: Sequence[Example]) -> dict[str, list]:
    return {name: job(part) for name, job in jobs.items()}


class ReadAhead:
    def __init__(self, jobs: dict[str, Job], every: int = 20_000):
        self.jobs, self.every = jobs, every
        self.part = max(every // 2, 1)
        self.started = 0
        self.running: parallel.Pending | None = None  # the worker on examples[..self.started]
        self.results: dict[str, list] = {name: [] for name in jobs}
        self.examples: list[Example] = []

    def feed(self, examples: list[Example]) -> None:
        """Called as the loader appends to `examples` (list positions are pool positions)."""
        self.examples = examples
        waiting = len(examples) - self.started - self.part
        if waiting < 0 or len(examples) < self.every:
            return
        if self.running is not None:
            # Asking a worker whether it is done costs a poll and a waitpid: once per 1,000 rows read,
            # not per row.
            if waiting % min(1000, self.every) or not self.running.done():
                return
            self._collect()
        # Parts are capped, so that when reading ends the worker still running holds at most one part
        # while the rest is shared by all workers: an uncapped part (everything read since the last one)
        # could hold nearly half the rows, and the load then waited on that one worker.
        part = examples[self.started:self.started + self.part]
        join_texts(part)  # joined here, so the worker and every later step inherit the strings
        pending = parallel.background(partial(_run_jobs, self.jobs), part)
        if pending is not None:
            self.running, self.started = pending, self.started + len(part)

    def _collect(self) -> None:
        pending, self.running = self.running, None
        for name, values in pending.result().items():
            self.results[name].extend(values)

    def finish(self) -> dict[str, list]:
        """Every job's results for every example read, by position. What was read after the running
        worker started is computed over all the workers when a worker ran (the input is read by now),
        started before that worker is waited for, so no core idles while it finishes; else as any step
        would (serially below the run's `engine.parallel_min`)."""
        rest = self.examples[self.started:]
        tail = None
        if rest:
            join_texts(rest)
            tail = parallel.start_parts(partial(_run_jobs, self.jobs), rest, min_items=2 if self.started else None)
        try:
            if self.running is not None:
                self._collect()
            if rest:
                for part in tail.results() if tail is not None else [_run_jobs(self.jobs, rest)]:
                    for name, values in part.items():
                        self.results[name].extend(values)
                self.started = len(self.examples)
        except BaseException:
            if tail is not None:
                tail.cancel()
            raise
        return self.results

    def cancel(self) -> None:
        if self.running is not None:
            self.running.cancel()
            self.running = None
