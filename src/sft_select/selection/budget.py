"""Token budget: count the tokens of prompt+response so `budget_tokens` caps what a fine-tune will read.

Counting uses the proxy LM's own tokenizer by default (SmolLM2), since a budget is about training cost;
`regex` (words and punctuation) is model-free and roughly 1.3 tokens short per word on English text.
Counts are memoized by (example id, tokenizer) within a process, so a τ sweep re-counts nothing.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from sft_select.core.record import Example

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_MEMO: dict[tuple[str, str], int] = {}


def _tokenizer(spec: str):
    """The tokenizer behind `select.tokenizer`, from the one LM loader (and its cache)."""
    from sft_select.models.lm.loader import DEFAULT_LM, get_tokenizer

    return get_tokenizer(DEFAULT_LM if spec == "smollm2" else spec, option="select.tokenizer")


def text_of(ex: Example) -> str:
    """What a fine-tune reads of an example: the prompt and the response, or the labelled text."""
    return ex.content


def token_counts(examples: Sequence[Example], tokenizer: str = "smollm2") -> np.ndarray:
    missing = [ex for ex in examples if (ex.id, tokenizer) not in _MEMO]
    if missing:
        texts = [text_of(ex) for ex in missing]
        if tokenizer == "regex":
            counts = [len(_WORD.findall(t)) for t in texts]
        else:
            tok = _tokenizer(tokenizer)
            counts = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
        for ex, c in zip(missing, counts):
            _MEMO[(ex.id, tokenizer)] = int(c)
    return np.array([_MEMO[(ex.id, tokenizer)] for ex in examples], dtype=np.int64)
