"""The one record type: an example with a stable id, its turns or text/label, and the row untouched.

Views, filters and selectors only ever read `Example`s; they never mutate them. Scores live in a
separate table keyed by `Example.id` (see `scores.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import xxhash

from sft_select.core.normalize import normalized_utf8

USER_ROLES = frozenset({"user", "human", "system", "prompt"})
ASSISTANT_ROLES = frozenset({"assistant", "gpt", "model", "bot"})


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # canonical: "system", "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Example:
    """One pool item.

    Instruction data fills `turns` (the last assistant turn is the response, everything before it the
    prompt); labelled text fills `text` and `label`. `original` is the input row exactly as read, so an
    output can write it back unchanged.
    """

    id: str
    source: str
    row: int
    format: str
    original: Mapping[str, Any] = field(repr=False)
    turns: tuple[Turn, ...] = ()
    text: str | None = None
    label: str | None = None
    # `prompt` and `content` are read ~10 times per example by filters, views and outputs: each is
    # joined once, on first use, and kept (not part of equality, hashing or repr).
    _prompt: str | None = field(default=None, init=False, compare=False, repr=False)
    _content: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "chat"

    @property
    def response(self) -> str:
        """The last assistant turn (empty when there is none)."""
        for turn in reversed(self.turns):
            if turn.role == "assistant":
                return turn.content
        return ""

    @property
    def prompt_turns(self) -> tuple[Turn, ...]:
        """Every turn before the last assistant turn."""
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].role == "assistant":
                return self.turns[:i]
        return self.turns

    @property
    def prompt(self) -> str:
        if self._prompt is None:
            object.__setattr__(self, "_prompt", "\n\n".join(t.content for t in self.prompt_turns if t.content))
        return self._prompt

    @property
    def content(self) -> str:
        """The text a content model (embedder, n-gram model) reads: prompt and response, or the text."""
        if self.text is not None:
            return self.text
        if self._content is None:
            object.__setattr__(self, "_content", "\n\n".join(part for part in (self.prompt, self.response) if part))
        return self._content


def join_texts(examples) -> None:
    """Join every example's `prompt` and `content` now, in this process. Forked workers then inherit the
    joined strings; a join done in a worker is lost with it, so each parallel step would pay it again
    and copy the example's memory page to store it."""
    for ex in examples:
        ex.content  # noqa: B018 - the property joins and keeps the string
        if ex.text is None:
            ex.prompt  # noqa: B018


def content_hash(turns: tuple[Turn, ...], text: str | None, label: str | None) -> str:
    """A 128-bit hash of the normalized fields: the same example gets the same id in every run."""
    h = xxhash.xxh3_128()
    if text is not None:
        h.update(b"T\x00" + normalized_utf8(text))
        h.update(b"\x00L\x00" + (label or "").encode("utf-8", "surrogatepass"))
    for turn in turns:
        h.update(b"\x01" + turn.role.encode() + b"\x00")
        h.update(normalized_utf8(turn.content))
    return h.hexdigest()[:24]


def assign_ids(hashes: list[str], seen: dict[str, int] | None = None) -> list[str]:
    """Content hashes made unique within a pool: the k-th repeat of a hash gets a `~k` suffix.

    Repeats get the suffix in reading order, so ids stay stable as long as the input does, and
    exact duplicates remain distinct rows of the score table until dedup drops them. `seen`: each
    hash's count so far, for a pool given a part at a time (updated here).
    """
    seen = {} if seen is None else seen
    ids = []
    for h in hashes:
        k = seen.get(h, 0)
        seen[h] = k + 1
        ids.append(h if k == 0 else f"{h}~{k}")
    return ids
