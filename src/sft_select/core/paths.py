"""Where the shared evaluation data lives (benchmarks and realistic tests only; never copied in)."""
from __future__ import annotations

import os
from pathlib import Path


def shared_data() -> Path | None:
    """`$SFT_SELECT_DATA`, else the first `shared/data` beside the repository or one of its parents."""
    env = os.environ.get("SFT_SELECT_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None
