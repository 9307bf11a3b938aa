"""quality_heuristic: defects found by cheap text statistics, no model.

Each signal maps to [0, 1] and the score is their geometric mean, so one bad signal (a refusal, a
truncated answer) pulls the whole score down instead of being averaged away. The reason names the
weakest signal.

Version 2 scores defects only: a clean answer scores 1 whatever its length. Version 1 rewarded length up
to 120 words and called any answer without final punctuation truncated; on real instruction pools longer
answers are not better (an external judge's good/bad labels: AUROC 0.39 for that score, 0.62 for "shorter
wins"), and 14% of human-written Dolly answers (lists, names, "Rhode Island") end without punctuation. So
length is only a floor (`min_words`) and truncation means a cut: an unclosed code block, a last line
ending on a comma or on "the"/"and" (signals.truncation). `ideal_words` and `truncation: punctuation`
bring version 1's signals back (quality_model's features use them).
"""
from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.textstats import signals, token_stats
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

HEAD = 20_000  # characters of the body the statistics read
# Signals whose failure is a defect, not a matter of degree: the row is flagged (`quality_heuristic_issue`),
# and the strategies that drop flagged rows (coverage, stratified, active, and so the default) leave it out;
# so is a row whose repetition signal is 0.
DEFECTS = ("not_refusal", "complete", "prompt", "not_echo")


def _body(ex: Example) -> str:
    return ex.text if ex.text is not None else ex.response


def _token_counts(heads: Sequence[str]) -> list[tuple[int, float] | None]:
    """(word tokens, repeated 3-gram share) of each body's head, for the ASCII ones computed over the
    whole batch at once (sft_select.textstats.token_stats: the same numbers, without a Python object per n-gram); None
    for the rest."""
    out: list[tuple[int, float] | None] = [None] * len(heads)
    rows = token_stats.ascii_rows(heads)
    if len(rows):
        counts, ratios = token_stats.duplicate_ngram_ratios([heads[i] for i in rows])
        for i, n, dup in zip(rows.tolist(), counts.tolist(), ratios.tolist()):
            out[i] = (n, dup)
    return out


@register
class QualityHeuristic(View):
    name = "quality_heuristic"
    group = "quality"
    version = "2"
    reads_embeddings = False  # text statistics only (views/base.py)
    # On labelled text, length and punctuation say nothing about whether the label is right.
    default_data = frozenset({"instruction"})

    def __init__(self, *, ideal_words: int = 0, min_words: int = 3, max_dup_ngram: float = 0.3,
                 truncation: Literal["cut", "punctuation"] = "cut"):
        """`ideal_words`: 0 (default) = length is only a floor (under `min_words` scores 0); a positive
        value rewards length up to that many words (version 1 used 120), which favours long answers.
        `max_dup_ngram`: repeated 3-gram share at which the repetition signal reaches 0. `truncation`:
        cut = only a real cut counts (unclosed code, a dangling last word or comma); punctuation = any
        long last line without final punctuation (version 1)."""
        self.ideal_words = ideal_words
        self.min_words = min_words
        self.max_dup_ngram = max_dup_ngram
        self.truncation = truncation

    def _length(self, n: int) -> float:
        if n < self.min_words:
            return 0.0
        return 1.0 if self.ideal_words <= 0 else min(1.0, math.log1p(n) / math.log1p(self.ideal_words))

    def _truncated(self, body: str) -> bool:
        if self.truncation == "punctuation":
            return signals.looks_truncated(body)
        return signals.truncation(body) is not None

    def signals_of(self, ex: Example) -> dict[str, float]:
        """Each signal of one example in [0, 1] (1 = good), in order: one row of `signal_table`."""
        ((names, (_, vals)),) = self.signal_table([ex]).items()
        return dict(zip(names, vals[0].tolist()))

    def signal_table(self, batch: Sequence[Example]) -> dict[tuple[str, ...], tuple[list[int], np.ndarray]]:
        """Each example's signals in [0, 1] (1 = good), per set of signal names (instruction data has 7,
        labelled text 3): the rows that have them and their values (rows x names), computed column by
        column over the batch; refusals are searched for over the batch (`signals.refusals`). Also the
        heuristic features of quality_model."""
        bodies = [_body(ex) for ex in batch]
        heads = [body[:HEAD] for body in bodies]
        counts = [c if c is not None else self._count(heads[i]) for i, c in enumerate(_token_counts(heads))]
        common = [[self._length(n) for n, _ in counts],
                  [max(0.0, 1.0 - dup / self.max_dup_ngram) for _, dup in counts],
                  [min(1.0, signals.alpha_ratio(head) / 0.75) for head in heads]]
        names = ("length", "repetition", "text_ratio")
        labelled = [i for i, ex in enumerate(batch) if ex.text is not None]
        out: dict[tuple[str, ...], tuple[list[int], np.ndarray]] = {}
        if labelled:
            out[names] = (labelled, np.array([[col[i] for col in common] for i in labelled], dtype=np.float64))
        rows = [i for i, ex in enumerate(batch) if ex.text is None]
        if rows:
            prompts = [batch[i].prompt.strip() for i in rows]
            stripped = [bodies[i].strip() for i in rows]
            refused = signals.refusals([bodies[i] for i in rows])
            extra = [[0.1 if r else 1.0 for r in refused],
                     [0.3 if self._truncated(bodies[i]) else 1.0 for i in rows],
                     [0.0 if not p else 1.0 for p in prompts],
                     # A response that only echoes the prompt teaches nothing.
                     [0.2 if s and s == p else 1.0 for s, p in zip(stripped, prompts)]]
            table = np.empty((len(rows), 7), dtype=np.float64)
            table[:, :3] = np.array([[col[i] for i in rows] for col in common], dtype=np.float64).T
            table[:, 3:] = np.array(extra, dtype=np.float64).T
            out[names + ("not_refusal", "complete", "prompt", "not_echo")] = (rows, table)
        return out

    def _count(self, head: str) -> tuple[int, float]:
        toks = signals.word_tokens(head)
        return len(toks), signals.duplicate_ngram_ratio(toks)

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        raw, reasons = np.empty(len(batch)), [""] * len(batch)
        issue = np.zeros(len(batch), dtype=bool)
        # The geometric mean and the weakest signal are numpy reductions over each group's rows.
        for names, (rows, vals) in self.signal_table(batch).items():
            raw[rows] = np.exp(np.mean(np.log(np.maximum(vals, 1e-3)), axis=1))
            defects = [names.index(d) for d in DEFECTS if d in names]
            if defects:  # instruction rows: a defect is a veto for strategies that drop flagged rows
                # repetition counts only at its worst (the repeated 3-gram share at max_dup_ngram or above)
                issue[rows] = (vals[:, defects] < 1.0).any(axis=1) | (vals[:, names.index("repetition")] <= 0.0)
            worst = vals.argmin(axis=1)  # the first weakest, in signal order
            for r, i in enumerate(rows):
                w = names[worst[r]]
                v = vals[r, worst[r]]
                reasons[i] = f"weakest: {w}={v:.2f}" if v < 1.0 else "all signals good"
        return ViewResult(raw, reasons, extra={"issue": issue})
