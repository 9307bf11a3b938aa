"""LM difficulty of instruction data: Instruction-Following Difficulty and conditional response loss.

Both read the per-example statistics of `sft_select.models.lm.stats` (response loss after the prompt and
after an empty prompt, from one causal LM), so computing one computes the other.
"""
from __future__ import annotations

import math

import numpy as np

from sft_select.views.lm_base import LMView
from sft_select.views.registry import register


@register
class DifficultyIFD(LMView):
    """IFD = PPL(response | prompt) / PPL(response), Li et al. 2024 ("From Quantity to Quality", Cherry LLM).

    An IFD near 0 means the prompt makes the response easy to predict; near 1, the model could write it
    without the prompt. higher_is_better=True, as in Cherry LLM and DEITA: among pairs where the prompt
    helps, a higher IFD marks an instruction the model does not yet follow easily, the most useful to
    train on. But IFD >= 1 means the prompt does not help at all (often a response unrelated to its
    prompt): both papers discard those pairs, so here their raw value is NaN (0 contribution after
    combining, the same as the easiest pair) and the reason keeps the IFD. A rank-based order cannot
    express "rising, then worst", which is why the cut-off is applied here and not left to combining.
    """

    name = "difficulty_ifd"
    group = "difficulty"
    version = "1"
    higher_is_better = True
    MISALIGNED = 1.0  # IFD at or above which the prompt does not help predict the response

    def _value(self, row: np.ndarray) -> tuple[float, str]:
        loss_cond, loss_resp = row[0], row[1]
        ifd = math.exp(loss_cond - loss_resp)
        detail = f"PPL {math.exp(loss_cond):.1f} with prompt, {math.exp(loss_resp):.1f} without"
        if not row[5]:  # has_prompt
            return math.nan, "no prompt"
        if ifd >= self.MISALIGNED:
            return math.nan, f"IFD {ifd:.3f} >= 1: the prompt does not help predict the response ({detail})"
        return ifd, f"IFD {ifd:.3f} ({detail})"


@register
class DifficultyLoss(LMView):
    """Mean per-token loss (nats) of the response given its prompt: how surprising the answer is to the LM.

    higher_is_better=True: in the difficulty group harder examples rank higher. A high loss also comes
    from noisy or garbled answers; the quality views (quality_fluency) are what guard against those.
    """

    name = "difficulty_loss"
    group = "difficulty"
    version = "1"
    higher_is_better = True

    def _value(self, row: np.ndarray) -> tuple[float, str]:
        return float(row[0]), f"loss {row[0]:.3f}/token over {int(row[2])} response tokens"
