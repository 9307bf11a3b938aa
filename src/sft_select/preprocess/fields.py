"""Which text of an example a dedup step compares."""
from __future__ import annotations

from sft_select.core.record import Example


def field_text(ex: Example, which: str) -> str:
    """The content (prompt + response, or the text), or one side of it: "prompt" or "response"."""
    if which == "prompt" and ex.text is None:
        return ex.prompt
    if which == "response":
        return ex.text if ex.text is not None else ex.response
    return ex.content
