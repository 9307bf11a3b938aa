"""Token budget: count the tokens of prompt+response so `budget_tokens` caps what a fine-tune will read.

Counting uses the proxy LM's own tokenizer by default (SmolLM2), since a budget is about training cost;
`regex` (words and punctuation) is model-free and roughly 1.3 tokens short per word on English text.
Counts are memoized by (example id, tokenizer) within a process, so a τ sweep re-counts nothing.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_MEMO: dict[tuple[str, str], int] = {}
_TOKENIZERS: dict[str, object] = {}


def _tokenizer(spec: str):
    if spec not in _TOKENIZERS:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        from sft_select.models.lm.proxy_loader import DEFAULT_LM, converted_path

        path = converted_path() if spec in ("smollm2", DEFAULT_LM) else spec
        try:
            _TOKENIZERS[spec] = AutoTokenizer.from_pretrained(str(path))
        except OSError as exc:
            raise ConfigError(f"select.tokenizer: cannot load '{spec}' offline: {exc}") from None
    return _TOKENIZERS[spec]


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
