"""Language identification for the `lang` filter, offline, with lingua (its models ship in the wheel).

lingua is used in low-accuracy mode (over ten times the throughput of its high-accuracy mode);
its short-text errors are avoided by only judging texts with enough letters once code is removed,
because code, numbers and one-word answers ("Paris.") carry no language signal.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from sft_select.core.errors import ConfigError, MissingDependency
from sft_select.core.normalize import scrub_surrogates

_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_LETTER = re.compile(r"[^\W\d_]")
_HEAD = 2000


@lru_cache(maxsize=1)
def _detector():
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        raise MissingDependency("lingua-language-detector", "the language filter (preprocess.filters.lang)",
                                extra="lang") from None
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def languages(codes: Sequence[str]) -> list:
    """lingua Language values for ISO 639-1 codes; an unknown code is a config error."""
    try:
        from lingua import IsoCode639_1, Language
    except ImportError:
        raise MissingDependency("lingua-language-detector", "the language filter (preprocess.filters.lang)",
                                extra="lang") from None
    out = []
    for code in codes:
        try:
            out.append(Language.from_iso_code_639_1(IsoCode639_1.from_str(code.strip().lower())))
        except (ValueError, AttributeError):
            raise ConfigError(f"preprocess.filters.lang: unknown ISO 639-1 language code '{code}'") from None
    return out


def prose(text: str) -> str:
    """The text without code blocks and inline code, head only: what carries the language."""
    return scrub_surrogates(_INLINE.sub(" ", _FENCED.sub(" ", text[: 4 * _HEAD]))[:_HEAD])


def off_language(texts: Sequence[str], codes: Sequence[str], *, min_confidence: float, min_letters: int) -> list[bool]:
    """True where a text is confidently in none of the languages `codes`; texts with fewer than
    `min_letters` letters of prose are never flagged."""
    wanted = languages(codes)
    heads = [prose(t) for t in texts]
    judged = [i for i, h in enumerate(heads) if len(_LETTER.findall(h)) >= min_letters]
    flags = [False] * len(texts)
    if not judged:
        return flags
    detector = _detector()
    batch = [heads[i] for i in judged]
    total = [0.0] * len(batch)
    for lang in wanted:
        for k, conf in enumerate(detector.compute_language_confidence_in_parallel(batch, lang)):
            total[k] += conf
    for k, i in enumerate(judged):
        flags[i] = total[k] < min_confidence
    return flags
