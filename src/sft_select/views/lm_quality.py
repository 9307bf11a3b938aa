"""quality_fluency: perplexity of the response on its own, from the same causal LM as the LM difficulty views."""
from __future__ import annotations

import math

import numpy as np

from sft_select.views.lm_base import LMView
from sft_select.views.registry import register


@register
class QualityFluency(LMView):
    """Response perplexity without its prompt (the chat frame with an empty user turn).

    Garbled, truncated-mid-word or machine-mangled text gets a high perplexity; fluent text a low one,
    so higher_is_better=False. Scored without the prompt so that a hard prompt does not make a fluent
    answer look disfluent (that is difficulty_loss's job). Very short, formulaic answers ("Yes.") can
    also get a low perplexity: combine with a length-aware view such as quality_heuristic.
    """

    name = "quality_fluency"
    group = "quality"
    version = "1"
    higher_is_better = False

    def _value(self, row: np.ndarray) -> tuple[float, str]:
        ppl = math.exp(row[1])
        return ppl, f"perplexity {ppl:.1f} over {int(row[2])} response tokens"
