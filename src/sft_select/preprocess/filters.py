"""Heuristic filters: each drops an example with a named reason (datatrove style) and a configurable bound.

Checks run cheapest first and the first failing one names the reason:

  filter_empty_prompt, filter_too_short_prompt, filter_too_long_prompt     (chars, then words)
  filter_empty_response, filter_too_short_response, filter_too_long_response
                                   (the last assistant turn; every earlier assistant turn must not be
                                   empty nor a boilerplate refusal either: "<reason>: assistant turn 1 of 3")
  filter_empty_text, filter_too_short_text, filter_too_long_text          (labelled text data)
  filter_response_repeats_prompt   the response is the prompt (or the last user turn) again
  filter_refusal                   "As an AI language model…", or a short answer that only declines
  filter_truncated                 unclosed code, or a last sentence that stops on "and", "the", ","…
  filter_symbols_prompt, filter_symbols_response / _text   symbol soup, binary junk
  filter_repeated_lines, filter_repeated_ngram, filter_duplicate_ngrams   Gopher-style repetition
  filter_language                  none of `lang` (off by default; lingua, offline, batched): "filter_language:
                                   detected de (0.93), wanted en (0.05)"; too little running text is kept

The statistics come from `sft_select.textstats.signals`, which the quality_heuristic view also reads. Every
statistic reads a bounded head or tail of the text, so a 1 MB example costs little more than a small one.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import partial
from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.executors import pool as parallel
from sft_select.preprocess import filter_batch
from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.langid import language_reasons, languages
from sft_select.preprocess.shingles import words_of
from sft_select.textstats import signals

_HEAD = 20_000
_EMOJI = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")


def _bounds(name: str, text: str, min_chars: int, max_chars: int, min_words: int, max_words: int) -> str | None:
    if len(text) > max_chars:
        return f"filter_too_long_{name}"
    stripped = text.strip()
    if not stripped:
        return f"filter_empty_{name}" if (min_chars > 0 or min_words > 0) else None
    if len(stripped) < min_chars:
        return f"filter_too_short_{name}"
    # Tokens are counted only as far as a bound can bite: up to `min_words` of them for the lower bound,
    # all of them only when the text is long enough (in characters) to exceed `max_words`.
    if min_words > 0:
        n = signals.tokens_up_to(text, min_words)
        # Emoji are an answer too ("convey this with emoji: 😻🐱"); punctuation alone ("...") is not.
        if n < min_words and not (n == 0 and _EMOJI.search(stripped)):
            return f"filter_too_short_{name}"
    if max_words < len(text) and signals.tokens(text) > max_words:
        return f"filter_too_long_{name}"
    return None


def _echoes(response: str, ex: Example, prompt: str) -> bool:
    """The response's tokens equal the prompt's (`ex.prompt`), or the last user turn's (system prompt aside)."""
    if not response.strip():
        return False
    if len(response) > 2 * len(prompt) + 16:  # cheap exit: far longer than anything it could echo
        return False
    mine = words_of(response)
    if not mine:
        return False
    if mine == words_of(prompt):
        return True
    users = [t.content for t in ex.prompt_turns if t.role == "user"]
    return bool(users) and mine == words_of(users[-1])


def _repetition(body: str, cfg: FilterConfig) -> str | None:
    toks = signals.repetition_tokens(body[:_HEAD])
    if len(toks) < cfg.repetition_min_words:
        return None
    if signals.duplicate_line_chars(body) > cfg.max_duplicate_line_chars:
        return "filter_repeated_lines"
    bounds = [*cfg.max_top_ngram_chars.values(), *cfg.max_duplicate_ngram_chars.values()]
    ngram_sizes = [*cfg.max_top_ngram_chars, *cfg.max_duplicate_ngram_chars]
    if not bounds:
        return None
    if min(ngram_sizes) >= 2 and signals.repeated_bigram_share(toks) <= min(bounds):
        return None  # no n-gram statistic can exceed its bound: skip computing them
    stats = signals.ngram_repetition(toks, cfg.max_top_ngram_chars, cfg.max_duplicate_ngram_chars)
    for n, bound in cfg.max_top_ngram_chars.items():
        if stats.get(f"top_{n}", 0.0) > bound:
            return "filter_repeated_ngram"
    for n, bound in cfg.max_duplicate_ngram_chars.items():
        if stats.get(f"dup_{n}", 0.0) > bound:
            return "filter_duplicate_ngrams"
    return None


def _symbols(name: str, text: str, cfg: FilterConfig) -> str | None:
    if len(text.strip()) >= cfg.text_ratio_min_chars and signals.text_ratio(text) < cfg.min_text_ratio:
        return f"filter_symbols_{name}"
    return None


def _earlier_turns(ex: Example, cfg: FilterConfig) -> str | None:
    """An assistant turn before the last one that is empty or a boilerplate refusal: a multi-turn example
    teaches every assistant turn, not only the last. The reason is the last turn's one, naming the turn
    after a colon (the report groups reasons by what precedes it). Only emptiness and refusals are checked
    there: a short or unfinished middle turn ("Sure.", "Go on:") is ordinary in a conversation."""
    answers = [t.content for t in ex.turns if t.role == "assistant"]
    empty_cut = cfg.min_response_chars > 0 or cfg.min_response_words > 0
    for k, answer in enumerate(answers[:-1], start=1):
        if empty_cut and not answer.strip():
            return f"filter_empty_response: assistant turn {k} of {len(answers)}"
        if cfg.refusal and signals.is_boilerplate_refusal(answer):
            return f"filter_refusal: assistant turn {k} of {len(answers)}"
    return None


def filter_reason(ex: Example, cfg: FilterConfig) -> str | None:
    """The first filter `ex` fails, or None (the language filter runs separately, in batches). The
    reference for `filter_batch`, which decides most rows of a batch without it."""
    if ex.text is not None:
        body, name = ex.text, "text"
        reason = _bounds("text", body, cfg.min_response_chars, cfg.max_response_chars,
                         cfg.min_response_words, cfg.max_response_words)
    else:
        body, name = ex.response, "response"
        prompt = ex.prompt
        reason = (_bounds("prompt", prompt, cfg.min_prompt_chars, cfg.max_prompt_chars,
                          cfg.min_prompt_words, cfg.max_prompt_words)
                  or _bounds("response", body, cfg.min_response_chars, cfg.max_response_chars,
                             cfg.min_response_words, cfg.max_response_words))
        if reason is None and cfg.echo and _echoes(body, ex, prompt):
            reason = "filter_response_repeats_prompt"
        if reason is None and cfg.refusal and signals.is_boilerplate_refusal(body):
            reason = "filter_refusal"
        if reason is None and len(ex.turns) > 2:
            reason = _earlier_turns(ex, cfg)
        if reason is None and cfg.truncated and signals.truncation(body):
            reason = "filter_truncated"
        if reason is None:
            reason = _symbols("prompt", prompt, cfg)
    return reason or _symbols(name, body, cfg) or _repetition(body, cfg)


def _reasons(examples: Sequence[Example], cfg: FilterConfig) -> list[str | None]:
    """`_safe_reason` of each example. The rows `filter_batch` proves to pass every check are None without
    asking it (~3x cheaper a row on Alpaca-like data); all others, dropped or not, get their reason from it."""
    out: list[str | None] = [None] * len(examples)
    for i in np.flatnonzero(~filter_batch.passes(examples, cfg)).tolist():
        out[i] = _safe_reason(examples[i], cfg)
    return out


def _safe_reason(ex: Example, cfg: FilterConfig) -> str | None:
    """A filter that raises on some odd example must not stop the run: the example leaves, with a reason."""
    try:
        return filter_reason(ex, cfg)
    except Exception as exc:  # noqa: BLE001 - deliberately broad: one bad row never stops a run
        return f"filter_error: {type(exc).__name__}"


def _filter_part(cfg: FilterConfig, examples: Sequence[Example]) -> list[str | None]:
    """A worker's share of `apply_filters`: the reason (or None) of each example, in order."""
    drops = apply_filters(examples, range(len(examples)), cfg)
    return [drops.get(i) for i in range(len(examples))]


def apply_filters(examples: Sequence[Example], positions: Sequence[int], cfg: FilterConfig,
                  known: dict[int, str | None] | None = None) -> dict[int, str]:
    """Pool position -> reason, for every example at `positions` that a filter drops. `known`: reasons
    (or None) already computed for some positions (`filter_job`), which are not computed again."""
    if known:
        rest = apply_filters(examples, [p for p in positions if p not in known], cfg)
        found = {p: known[p] if p in known else rest.get(p) for p in positions}
        return {p: r for p, r in found.items() if r}
    if cfg.lang:
        languages(cfg.lang)  # an unknown language code fails before any work
    parts = parallel.map_parts(partial(_filter_part, cfg), [examples[p] for p in positions])
    if parts is not None:  # over the run's worker processes; each example's reason is its own
        found = [reason for part in parts for reason in part]
        return {p: r for p, r in zip(positions, found) if r}
    found = _reasons([examples[p] for p in positions], cfg)
    drops = {p: r for p, r in zip(positions, found) if r}
    if cfg.lang:
        rest = [p for p in positions if p not in drops]
        judged = language_reasons([examples[p].content for p in rest], cfg.lang,
                                  min_confidence=cfg.lang_min_confidence, min_letters=cfg.lang_min_letters)
        drops.update({p: r for p, r in zip(rest, judged) if r})
    return drops


def filter_job(cfg: FilterConfig):
    """The filters as a per-example job for `load(alongside=...)`, which runs it on the examples read so
    far while the rest of the input is parsed (io/read_ahead.py); the worker runs the parallel step's
    own `_filter_part`, so every reason is the one the step would give. None where that does not pay:
    filters off, or the language filter (its model would load in every worker)."""
    return None if not cfg.enabled or cfg.lang else partial(_filter_part, cfg)


def reason_counts(drops: dict[int, str]) -> dict[str, int]:
    return dict(sorted(Counter(drops.values()).items()))
