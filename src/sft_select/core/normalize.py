"""Text normalization for hashing and scoring only: outputs always keep the original text."""
from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters except tab/newline; they break tokenizers and hide duplicates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
# Lone surrogates cannot be encoded as UTF-8; they come from broken JSON escapes.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """NFKC, control characters removed, whitespace collapsed, stripped."""
    if not text.isascii():  # ASCII has no surrogates and is its own NFKC form
        text = _SURROGATE.sub("\ufffd", text)
        text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    # Same result as _SPACE.sub(" ", text).strip() (both split on str.isspace), without the regex.
    return " ".join(text.split())


# _CONTROL's ASCII members as bytes, for the fast path of `normalized_utf8`.
ASCII_CONTROLS = bytes(b for b in range(128) if (b < 32 and b not in (9, 10, 13)) or b == 127)


def normalized_utf8(text: str) -> bytes:
    """UTF-8 of normalize_text(text). ASCII text takes bytes.translate/split/join, all in C, with the
    same bytes as a result (controls deleted first, so the whitespace left is what bytes.split splits
    on): ids are hashes of these bytes, so they must not change."""
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(None, ASCII_CONTROLS).split())
    return normalize_text(text).encode("utf-8", "surrogatepass")


def normalize_for_dedup(text: str) -> str:
    """`normalize_text` plus case folding: what exact and near dedup compare."""
    return normalize_text(text).casefold()


def scrub_surrogates(text: str) -> str:
    """Lone surrogates replaced by U+FFFD: what a C or Rust library (tokenizers, lingua) can encode."""
    return _SURROGATE.sub("\ufffd", text)
