"""Cheap per-text statistics shared by the heuristic filters (which cut on them) and the heuristic
quality view (which scores them continuously), so both read the same numbers.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import islice
from typing import Iterable, Sequence

import numpy as np

_REFUSAL = re.compile(
    r"\b(as an ai( language)? model|i(?:'m| am) (?:sorry|unable)|i cannot (?:help|assist|provide)|"
    r"i can(?:'|no)t (?:help|assist|provide)|i do not have (?:access|the ability)|as a language model)\b",
    re.IGNORECASE,
)
_TERMINAL = set(".!?。！？…\"')]}`*>|") | set("0123456789")


def words(text: str) -> list[str]:
    """Lowercased word tokens: runs of word characters, and each character of a script written without
    spaces (Han, kana, Thai...) on its own, as `tokens` counts them: a Chinese or Japanese sentence is
    not one word. (Korean is written with spaces, so a Hangul word is one token, as in English.)"""
    return _TOKEN.findall(text.lower())


def word_tokens(text: str) -> list:
    """The tokens of `words(text)`, as bytes for ASCII text (one `bytes.translate` + split instead
    of the regex, same tokens); for counting and comparing only."""
    return repetition_tokens(text)


# ASCII letters and whitespace (str.isspace also counts the separators \x1c-\x1f), deleted by one
# bytes.translate: the length of what is left counts the other characters in C.
_ASCII_ALPHA_SPACE = bytes(b for b in range(128) if chr(b).isalpha() or chr(b).isspace())


def alpha_ratio(text: str) -> float:
    """Share of characters that are letters or whitespace (low for symbol soup and binary junk).

    No Python frame per character: ASCII text is counted by `bytes.translate`, other text by `map` over
    `str.isalpha` and `str.isspace` (disjoint classes, so the two counts add up exactly)."""
    if not text:
        return 0.0
    if text.isascii():
        return (len(text) - len(text.encode("ascii").translate(None, _ASCII_ALPHA_SPACE))) / len(text)
    return (sum(map(str.isalpha, text)) + sum(map(str.isspace, text))) / len(text)


def duplicate_ngram_ratio(tokens: list, n: int = 3) -> float:
    """Gopher-style: share of n-gram occurrences that repeat an earlier n-gram (tokens may be str or
    bytes: only equality matters). A set of the n-grams counts the distinct ones in C.

    Where most tokens are single characters of a script without spaces (Chinese, Japanese), an n-gram
    spans 2n - 1 of them: a word there is about two characters (a Chinese paragraph and its English
    translation: 199 characters, 107 words; the repeated 5-character share 0.021 against the English
    repeated 3-word share 0.019, where 3 characters gave 0.10 and read as repetition)."""
    if tokens and type(tokens[0]) is str and 2 * len(_NO_SPACE_CHAR.findall("".join(tokens))) > len(tokens):
        n = 2 * n - 1  # bytes tokens are ASCII text's, which has none of these characters
    if len(tokens) < n + 1:
        return 0.0
    total = len(tokens) - n + 1
    return (total - len(set(zip(*[tokens[i:] for i in range(n)])))) / total


# Each alternative of _REFUSAL contains one of these (lowercased). Only for ASCII text: with IGNORECASE
# the regex also matches 'İ', 'ı' and 'ſ', which a lowercase substring test would miss.
_REFUSAL_HINTS = ("as an ai", "sorry", "unable", "i can", "i do not have", "as a language model")


def is_refusal(text: str) -> bool:
    head = text[:2000]
    if head.isascii():
        low = head.lower()
        if not any(hint in low for hint in _REFUSAL_HINTS):
            return False
    return bool(_REFUSAL.search(head))


def refusals(texts: Sequence[str]) -> list[bool]:
    """`is_refusal` of each text. The ASCII heads are lowercased and searched for the hints over the
    batch at once (`containing`), so the regex runs only on the heads that hold one, and Python does
    not lowercase and scan each head on its own."""
    import pyarrow as pa
    import pyarrow.compute as pc

    heads = [t[:2000] for t in texts]
    ascii_rows = [i for i, h in enumerate(heads) if h.isascii()]
    hinted = containing(pc.ascii_lower(pa.array([heads[i] for i in ascii_rows], pa.string())), _REFUSAL_HINTS)
    unsure = set(range(len(heads))) - {i for i, h in zip(ascii_rows, hinted.tolist()) if not h}
    return [bool(_REFUSAL.search(head)) if i in unsure else False for i, head in enumerate(heads)]


def containing(lowered, hints: Sequence[str]) -> np.ndarray:
    """For each string of the Arrow array `lowered` (lowercased), whether it contains any of `hints`:
    RE2 over the batch in one pass (pyarrow), instead of one `str.find` pass per hint."""
    import pyarrow.compute as pc

    if len(lowered) == 0:
        return np.zeros(0, dtype=bool)
    found = pc.match_substring_regex(lowered, "|".join(map(re.escape, hints)))
    return found.to_numpy(zero_copy_only=False).astype(bool)


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


# --- Statistics the heuristic filters cut on (preprocess/filters.py). Each reads a bounded head of the
# text where the cost grows with length, so a 1 MB example costs no more than a 20k-character one.

_HEAD = 20_000
# One token per CJK/kana/Thai... character (scripts without spaces; Han's supplementary planes and
# half-width katakana included); elsewhere runs of word characters. ASCII text has none of them, so its
# tokens are the runs of [A-Za-z0-9_] that the bytes.translate fast paths split on.
_NO_SPACE = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3100-\u312f\u31f0-\u31ff\u3400-\u4dbf"
             "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f")
_TOKEN = re.compile(f"[{_NO_SPACE}]|[^\\W{_NO_SPACE}]+")
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE}]")
_WORD_BYTES = bytes(b if (chr(b).isalnum() or chr(b) == "_") else 32 for b in range(256))
_ASCII_TEXT = bytes(b for b in range(128) if chr(b).isalnum() or chr(b).isspace())
_NON_TEXT = re.compile(r"[^\w\s\u0300-\u036f\u0900-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u20d0-\u20ff]")
_BOILERPLATE = re.compile(
    r"\bas an? (?:ai|artificial intelligence)(?: (?:language|text-based|text based))?(?: model| assistant| chatbot)\b"
    r"|\bas a (?:large )?language model\b|\bi(?:'m| am) (?:just |only )?an? (?:ai|language model)\b",
    re.IGNORECASE)
_REFUSAL_OPENING = re.compile(
    r"^\W*(?:(?:i'?m|i am) (?:very |really |so )?sorry|sorry|unfortunately|i apologi[sz]e)?[^.!?\n]{0,60}?"
    r"\b(?:i|we) (?:cannot|can't|can not|won't|will not|am unable to|'m unable to|am not able to|"
    r"'m not able to|do not have the ability to|don't have the ability to) "
    r"(?:help|assist|provide|fulfill|fulfil|comply|answer|do that|complete|generate|create|write|engage|"
    r"support|perform|browse|access)",
    re.IGNORECASE)
# Words a finished sentence almost never ends on (articles, conjunctions, most prepositions). Phrasal
# verb particles ("log in", "turn on") and pronouns are left out: answers legitimately end on them.
_DANGLING_WORDS = frozenset("a an the and or but nor of to into onto at by for with from than because while "
                            "if whose your my their our its as".split())
# Every match of _REFUSAL_OPENING contains one of these (lowercased); a substring test of ASCII text spares
# the regex (with IGNORECASE the regex would also match non-ASCII 'ı', 'ſ' or 'K').
_DECLINING = ("cannot", "can't", "can not", "won't", "will not", "unable to", "not able to", "the ability to")
_NUMBERED = re.compile(r"^\(?\d{1,3}[.)]\s")
_BUT_HELPS = re.compile(r"\b(?:but|however)\b[^.!?]{0,40}\b(?:i can|here|you can|i could|i'd be happy)\b(?!'t| ?not)",
                        re.I)


def tokens(text: str) -> int:
    """Token count for length bounds: words and numbers, and each character of CJK and similar scripts."""
    if text.isascii():
        return len(text.encode("ascii").translate(_WORD_BYTES).split())
    return sum(1 for _ in _TOKEN.finditer(text))


def tokens_up_to(text: str, k: int) -> int:
    """min(tokens(text), k), reading only as far as the k-th token (a minimum-length bound of one word
    is decided by the first token, not by counting them all)."""
    return sum(1 for _ in islice(_TOKEN.finditer(text), k))


def text_ratio(text: str) -> float:
    """Share of characters that are letters, digits, combining marks or whitespace (of the head)."""
    head = text[:_HEAD]
    if not head:
        return 1.0
    if head.isascii():
        other = len(head.encode("ascii").translate(None, _ASCII_TEXT))
    else:
        other = len(_NON_TEXT.findall(head))
    return 1.0 - other / len(head)


def is_boilerplate_refusal(text: str, max_words: int = 80) -> bool:
    """'As an AI language model…' anywhere near the start, or a short answer that opens by declining."""
    head = text[:1500]
    low = head.lower()
    # Every boilerplate phrase names the AI or the model: a substring test spares the regex on most texts.
    if ("an ai" in low or "language model" in low or "artificial" in low) and _BOILERPLATE.search(head):
        return True
    # "I can't browse the web, but here is ..." helps after all: only a short, plain refusal counts.
    if head.isascii() and not any(verb in low[:400] for verb in _DECLINING):
        return False  # no declining verb phrase, so _REFUSAL_OPENING cannot match (ASCII: see _DECLINING)
    return (bool(_REFUSAL_OPENING.search(head[:400])) and len(head.split()) <= max_words
            and not _BUT_HELPS.search(head))


def truncation(text: str) -> str | None:
    """Why a response looks cut off, or None: an unclosed code block or inline code span, or a last line
    of more than three words without final punctuation that ends on a comma, colon, semicolon, hyphen
    or a word a sentence does not end on ('and', 'the', 'of', ...). Judged on the last 2000 characters."""
    tail = text[-2000:].rstrip()
    if text.count("```") % 2 == 1:
        return "unclosed code block"
    if len(tail) < 40 or tail[-1] in _TERMINAL:
        return None
    last_line = tail.rsplit("\n", 1)[-1].strip()
    if last_line.replace("```", "").count("`") % 2 == 1:
        return "unclosed inline code"
    if (last_line.startswith(("-", "*", "#", "|", ">", "•")) or _NUMBERED.match(last_line)
            or len(last_line.split()) <= 3):
        return None  # lists, headings, tables and short lines legitimately end without punctuation
    if tail[-1] in ",:;-–(":
        return "ends on '" + tail[-1] + "'"
    last_word = last_line.split()[-1].lower()
    if last_word in _DANGLING_WORDS:
        return f"ends on '{last_word}'"
    return None


def duplicate_line_chars(text: str) -> float:
    """Gopher: share of characters in non-blank lines that repeat an earlier line."""
    lines = [ln.strip() for ln in text[:_HEAD].split("\n")]
    lines = [ln for ln in lines if ln]
    total = sum(map(len, lines))
    if total == 0:
        return 0.0
    seen: set[str] = set()
    dup = 0
    for ln in lines:
        if ln in seen:
            dup += len(ln)
        else:
            seen.add(ln)
    return dup / total


def _covered_chars(toks: list[str], n: int, starts) -> int:
    covered = [False] * len(toks)
    for start in starts:
        covered[start:start + n] = [True] * n
    return sum(len(t) for t, c in zip(toks, covered) if c)


def ngram_repetition(toks: list[str], top_ns: Iterable[int], dup_ns: Iterable[int]) -> dict[str, float]:
    """Gopher's repetition statistics over word tokens, as shares of word characters:
    `top_<n>`: covered by the most frequent n-gram (if it occurs more than once); `dup_<n>`: covered by
    n-grams that occur more than once. Coverage (not count x length) keeps every share <= `dup_2`, which
    `repeated_bigram_share` uses as a cheap upper bound. `Counter` over tuples runs in C; the loops only
    visit repeated n-grams, which ordinary text hardly has."""
    out: dict[str, float] = {}
    total = sum(map(len, toks))
    if not total:
        return out
    for n in sorted(set(top_ns) | set(dup_ns)):
        if len(toks) < n:
            continue
        grams = list(zip(*(toks[i:] for i in range(n))))
        counts = Counter(grams)
        if n in top_ns:
            top, count = counts.most_common(1)[0]
            out[f"top_{n}"] = (_covered_chars(toks, n, (i for i, g in enumerate(grams) if g == top)) / total
                               if count > 1 else 0.0)
        if n in dup_ns:
            repeated = len(counts) < len(grams)
            out[f"dup_{n}"] = (_covered_chars(toks, n, (i for i, g in enumerate(grams) if counts[g] > 1)) / total
                               if repeated else 0.0)
    return out


def repetition_tokens(text: str) -> list:
    """Lowercased word tokens for the repetition statistics (bytes for ASCII text: a translate + split
    instead of the regex of `words`, same tokens; only equality and length matter there)."""
    if text.isascii():
        return text.encode("ascii").translate(_WORD_BYTES).lower().split()
    return words(text)


def repeated_bigram_share(toks: list[str]) -> float:
    """`dup_2`: an upper bound of every `ngram_repetition` share for n >= 2 (a word covered by a repeated
    n-gram is covered by one of its repeated bigrams), at the cost of one Counter."""
    return ngram_repetition(toks, (), (2,)).get("dup_2", 0.0)
