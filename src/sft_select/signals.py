"""Cheap per-text statistics shared by the heuristic filters (which cut on them) and the heuristic
quality view (which scores them continuously), so both read the same numbers.
"""
from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)
_REFUSAL = re.compile(
    r"\b(as an ai( language)? model|i(?:'m| am) (?:sorry|unable)|i cannot (?:help|assist|provide)|"
    r"i can(?:'|no)t (?:help|assist|provide)|i do not have (?:access|the ability)|as a language model)\b",
    re.IGNORECASE,
)
_TERMINAL = set(".!?。！？…\"')]}`*>|") | set("0123456789")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def alpha_ratio(text: str) -> float:
    """Share of characters that are letters or whitespace (low for symbol soup and binary junk)."""
    if not text:
        return 0.0
    good = sum(1 for c in text if c.isalpha() or c.isspace())
    return good / len(text)


def duplicate_ngram_ratio(tokens: list[str], n: int = 3) -> float:
    """Gopher-style: share of n-gram occurrences that repeat an earlier n-gram."""
    if len(tokens) < n + 1:
        return 0.0
    grams = Counter(zip(*(tokens[i:] for i in range(n))))
    total = sum(grams.values())
    return (total - len(grams)) / total


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text[:2000]))


def looks_truncated(text: str) -> bool:
    """A response that stops mid-sentence: no terminal punctuation and a long enough last line."""
    stripped = text.rstrip()
    if len(stripped) < 40:
        return False
    if stripped[-1] in _TERMINAL:
        return False
    last_line = stripped.rsplit("\n", 1)[-1]
    # Lists, code and key: value lines legitimately end without punctuation.
    return not last_line.lstrip().startswith(("-", "*", "#", "|", "`")) and len(last_line.split()) > 3
