"""Shared fixtures: one SmolLM2 per test session, and LM statistics cached in a temporary folder."""
from __future__ import annotations

import pytest

from sft_select.core.record import Example, Turn, content_hash
from sft_select.models.lm.stats import LMStatsStore


@pytest.fixture(scope="session")
def smollm():
    """The default LM, loaded once (the first run on a machine converts the GGUF, ~45 s, then cached)."""
    from sft_select.models.lm.loader import get_lm

    return get_lm("smollm2-135m", device="cpu")


@pytest.fixture(autouse=True)
def stats_cache(tmp_path, monkeypatch):
    """Each test starts with no cached statistics, in memory or on disk."""
    monkeypatch.setattr(LMStatsStore, "root", tmp_path / "lm_stats")
    LMStatsStore.clear()
    yield tmp_path / "lm_stats"
    LMStatsStore.clear()


def chat(prompt: str, response: str | None, i: int = 0) -> Example:
    turns = (Turn("user", prompt),) if prompt else ()
    turns += (Turn("assistant", response),) if response is not None else ()
    return Example(id=content_hash(turns, None, None), source="test", row=i, format="chat", original={}, turns=turns)
