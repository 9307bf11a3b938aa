"""Print how many fuzz cases the reliability tests tried (the figure docs/reliability.md reports)."""
from __future__ import annotations

from .fuzz import CASES, total_cases


def pytest_terminal_summary(terminalreporter) -> None:
    if not CASES:
        return
    terminalreporter.write_sep("-", f"reliability fuzz: {total_cases()} cases tried")
    for test, outcomes in sorted(CASES.items()):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        terminalreporter.write_line(f"  {test}: {sum(outcomes.values())} ({parts})")
