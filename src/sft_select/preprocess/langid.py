"""Language identification for the `lang` filter, offline, with lingua (its models ship in the wheel).

lingua is used in low-accuracy mode (over ten times the throughput of its high-accuracy mode);
its short-text errors are avoided by only judging texts with enough letters of running text: code,
numbers, one-word answers ("Paris.") and the items of a list ("Palaeophis, Giant Tortoise", "Rhode
Island") carry no language signal, and lingua read such English as Latin, Tagalog or Yoruba. On the
2,996 English rows of Dolly (AlpaGasus' 3k) `--lang en` dropped 131 judging all prose, 64 judging only
the parts of four or more words between commas, colons and line breaks.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from sft_select.core.errors import ConfigError, MissingDependency
from sft_select.core.normalize import scrub_surrogates
from sft_select.textstats.signals import tokens

_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_LETTER = re.compile(r"[^\W\d_]")
_HEAD = 2000
# Where list items and labels end; a part of fewer than _MIN_PART_WORDS words between them is not prose
_PART_END = re.compile(r"[,;:\n|()\[\]\"“”•·、，；：]+| [-–—] ")
_MIN_PART_WORDS = 4


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


def running_text(text: str) -> str:
    """The parts of `prose(text)` with at least _MIN_PART_WORDS words (`signals.tokens`: a Chinese or
    Japanese character is one) between commas, colons, brackets and line breaks: its sentences, not the
    names of a list."""
    return " ".join(part for part in _PART_END.split(prose(text)) if tokens(part) >= _MIN_PART_WORDS)


def language_reasons(texts: Sequence[str], codes: Sequence[str], *, min_confidence: float,
                     min_letters: int) -> list[str | None]:
    """For each text, None, or the reason it is confidently in none of the languages `codes`
    ("filter_language: detected de (0.93), wanted en (0.05)": the likeliest language, and the summed
    confidence of the wanted ones). Texts with fewer than `min_letters` letters of running text are too
    short to judge and are never flagged."""
    wanted = languages(codes)
    heads = [running_text(t) for t in texts]
    judged = [i for i, h in enumerate(heads) if len(_LETTER.findall(h)) >= min_letters]
    out: list[str | None] = [None] * len(texts)
    if not judged:
        return out
    detector = _detector()
    batch = [heads[i] for i in judged]
    total = [0.0] * len(batch)
    for lang in wanted:
        for k, conf in enumerate(detector.compute_language_confidence_in_parallel(batch, lang)):
            total[k] += conf
    off = [k for k in range(len(batch)) if total[k] < min_confidence]
    wanted_names = ",".join(c.strip().lower() for c in codes)
    # the likeliest language only for the few flagged texts (all 75 confidences cost more than one)
    for k, values in zip(off, detector.compute_language_confidence_values_in_parallel([batch[k] for k in off])):
        top = values[0]
        out[judged[k]] = (f"filter_language: detected {top.language.iso_code_639_1.name.lower()} "
                          f"({top.value:.2f}), wanted {wanted_names} ({total[k]:.2f})")
    return out
