"""The shared base of the LM views: parameters, validation, the CPU time estimate and the statistics.

difficulty_ifd, difficulty_loss and quality_fluency read the same per-example statistics
(`sft_select.models.lm.stats`), so whichever runs first pays for the forward passes and the others reuse them.
Hence one time estimate per shared pass (`PassPlan`), naming the views it serves: each view's fit joins
the plan of its model settings and pool, and the first batch any of them scores prints it, once every
view has been fit and the plan knows them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sft_select.core.cache import ids_fingerprint
from sft_select.core.errors import ConfigError
from sft_select.core.progress import info
from sft_select.core.record import Example
from sft_select.models.lm.loader import DEFAULT_LM, DEVICES, DTYPES, REMOVED_DTYPES, resolve_device
from sft_select.models.lm.stats import CPU_TOKENS_PER_S, lm_stats, pending_tokens
from sft_select.views.base import View, ViewResult


@dataclass
class PassPlan:
    """The forward passes that the LM views fit on one pool with the same model settings share."""

    model: str
    todo: int  # examples whose statistics are not cached yet
    tokens: int  # tokens their forward passes will read
    views: list[str] = field(default_factory=list)
    announced: bool = False

    def announce(self) -> None:
        if self.announced:
            return
        self.announced = True
        if self.todo:
            minutes = self.tokens / CPU_TOKENS_PER_S / 60
            info(f"{', '.join(self.views)}: one shared pass of {self.todo} examples ({self.tokens:,} tokens) "
                 f"through {self.model} on CPU: about {minutes:.1f} min on idle cores at an assumed "
                 f"{CPU_TOKENS_PER_S:,} tokens/s, longer under load (a GPU makes this fast)")


# Plans by (statistics settings, pool fingerprint), while their views are being fit; replaced once announced.
_PLANS: dict[tuple, PassPlan] = {}


class LMView(View):
    """Not registered: subclasses set `name`/`group` and implement `_value` on one statistics row."""

    needs = frozenset({"instruction"})
    cpu_fast = False  # a causal LM forward per example and context: default-on only with a GPU, else on request
    default_batch_size = 512  # examples per call: enough for length bucketing to leave little padding
    # The shared conformance test gives every view with a `model` parameter the hashing embedder; an LM
    # view needs a causal LM, so it runs there on the real default model with short sequences.
    conformance_params = {"model": DEFAULT_LM, "max_tokens": 64}

    def __init__(self, *, model: str = DEFAULT_LM, max_tokens: int = 512, batch_tokens: int | None = None,
                 device: str = "auto", dtype: str = "auto"):
        """`model`: "smollm2-135m" or a Hugging Face causal LM (local folder or cached hub name).
        `max_tokens`: cap on prompt tokens and on response tokens each; longer texts are cut (the prompt
        keeps its end, the response its start) and the reason says so. Memory and time grow with it.
        `batch_tokens`: padded tokens per forward pass; None picks 256 on CPU (larger CPU batches
        measured slower: bench/lm_batch_sweep.py) and 16,384 on a GPU, where larger batches fill the device.
        `device`: auto (cuda when present), cpu or cuda.
        `dtype`, the precision: auto (float32 on CPU, bfloat16 on a GPU that has it, else float32), float32,
        bfloat16 or float16. The precision is part of the statistics cache key: statistics of two
        precisions are cached apart and never mixed."""
        self.model = model
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self.device = device
        self.dtype = dtype

    def _check(self) -> None:
        for key in ("max_tokens", "batch_tokens"):
            value = getattr(self, key)
            if value is None and key == "batch_tokens":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"views.settings.{self.name}.params.{key}: must be a positive integer, got {value!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"views.settings.{self.name}.params.device: one of {DEVICES}, got {self.device!r}")
        if self.dtype in REMOVED_DTYPES:
            raise ConfigError(f"views.settings.{self.name}.params.dtype: {self.dtype!r} is no longer available: "
                              f"{REMOVED_DTYPES[self.dtype]}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"views.settings.{self.name}.params.dtype: one of {DTYPES}, got {self.dtype!r}")

    def _stats_params(self) -> dict:
        return {"model": self.model, "max_tokens": self.max_tokens, "device": self.device, "dtype": self.dtype}

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "LMView":
        """Learns nothing; on CPU it joins the time estimate of the pass it shares with the other LM views
        fit on this pool (`PassPlan`), printed when the first of them starts scoring."""
        self._check()
        self.plan_ = None
        if resolve_device(self.device) == "cpu":
            key = (tuple(sorted(self._stats_params().items())), ids_fingerprint(ex.id for ex in pool))
            plan = _PLANS.get(key)
            if plan is None or plan.announced:  # a new run over the same pool gets a new estimate
                plan = _PLANS[key] = PassPlan(self.model, *pending_tokens(pool, **self._stats_params()))
            if self.name not in plan.views:
                plan.views.append(self.name)
            self.plan_ = plan
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        self._check()
        if getattr(self, "plan_", None) is not None:
            self.plan_.announce()
        batch_tokens = self.batch_tokens or (256 if resolve_device(self.device) == "cpu" else 16384)
        stats = lm_stats(batch, batch_tokens=batch_tokens, **self._stats_params())
        raw, reasons = np.full(len(batch), np.nan), []
        for i, (ex, row) in enumerate(zip(batch, stats)):
            if row[2] == 0:  # n_response: nothing to score
                reasons.append("empty response" if ex.turns else "not an instruction example")
                continue
            raw[i], reason = self._value(row)
            reasons.append(reason + ("; truncated to max_tokens" if row[4] else ""))
        return ViewResult(raw, reasons)

    def _value(self, row: np.ndarray) -> tuple[float, str]:  # pragma: no cover - abstract
        raise NotImplementedError
