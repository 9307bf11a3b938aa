"""Small builders shared by the preprocess tests."""
from __future__ import annotations

from sft_select.core.record import Example, Turn, assign_ids, content_hash


def chat(prompt: str, response: str, *, system: str | None = None, row: int = 0) -> Example:
    turns = ((Turn("system", system),) if system else ()) + (Turn("user", prompt), Turn("assistant", response))
    return Example(id=content_hash(turns, None, None), source="t.jsonl", row=row, format="alpaca",
                   original={"instruction": prompt, "input": "", "output": response}, turns=turns)


def text(body: str, label: str = "x", row: int = 0) -> Example:
    return Example(id=content_hash((), body, label), source="t.jsonl", row=row, format="text_label",
                   original={"text": body, "label": label}, text=body, label=label)


def pool(pairs: list[tuple[str, str]]) -> list[Example]:
    """Chat examples with unique ids, as the loader would give them."""
    exs = [chat(p, r, row=i) for i, (p, r) in enumerate(pairs)]
    ids = assign_ids([e.id for e in exs])
    return [Example(id=i, source=e.source, row=e.row, format=e.format, original=e.original, turns=e.turns)
            for e, i in zip(exs, ids)]
