"""The proxy contract and the factory that picks one from the `evaluate` config section."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.evaluate.config import EvaluateConfig
from sft_select.core.record import Example


@dataclass
class ProxyScore:
    """f(S) (`value`, higher is better) and the metrics it came from."""

    value: float
    metrics: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    seconds: float = 0.0
    # One outcome per validation row whose mean is `value` (accuracy: 1/0 per row; coverage: the row's
    # similarity), when the proxy has them: the guard's paired bootstrap compares subsets row by row.
    per_row: "np.ndarray | None" = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "per_row"}


class Proxy(Protocol):
    name: str
    metric: str  # what `value` is, e.g. "accuracy" or "-loss"

    def evaluate(self, train: Sequence[Example], validation: Sequence[Example], seed: int = 0) -> ProxyScore: ...

    def describe(self) -> dict: ...


def _gpu() -> bool:
    """Whether a CUDA (or ROCm) device is there for the LoRA proxy (answered without torch when no driver)."""
    from sft_select.pipelines.in_memory import gpu_available

    return gpu_available()


def proxy_kind(cfg: EvaluateConfig, pool: Sequence[Example]) -> str:
    """`auto`: classifier for labelled data; for instruction data lm on a GPU, coverage on CPU, where a LoRA
    fine-tune of a small LM cannot tell subsets apart (docs/selection.md, "Which proxy for instruction data")."""
    if cfg.proxy != "auto":
        return cfg.proxy
    if any(ex.label is not None for ex in pool):
        return "classifier"
    return "lm" if _gpu() else "coverage"


def build_proxy(cfg: EvaluateConfig, pool: Sequence[Example], *, embedder: str) -> Proxy:
    """The proxy for this data; a classifier needs labels, and says so."""
    kind = proxy_kind(cfg, pool)
    if kind == "classifier":
        if not any(ex.label is not None for ex in pool):
            raise ConfigError("evaluate.proxy: classifier needs labelled data (text/label rows); use lm")
        if cfg.classifier.model == "encoder":
            from sft_select.evaluate.proxy_encoder import EncoderProxy

            c = cfg.classifier
            return EncoderProxy(model=c.encoder, metric=c.metric, class_weight=c.class_weight, epochs=c.epochs,
                                lr=c.lr, batch_size=c.batch_size, max_length=c.max_length)
        c = cfg.classifier
        if c.model == "mlp":
            if c.class_weight is not None:
                raise ConfigError("evaluate.classifier.class_weight: model mlp does not weigh classes (use logreg)")
            from sft_select.evaluate.proxy_mlp import MLPProxy

            return MLPProxy(embedder=embedder, metric=c.metric, hidden=c.hidden, alpha=c.alpha, epochs=c.mlp_epochs)
        from sft_select.evaluate.proxy_classifier import LogRegProxy

        return LogRegProxy(embedder=embedder, metric=c.metric, class_weight=c.class_weight, C=c.C)
    if kind == "coverage":
        from sft_select.evaluate.proxy_coverage import CoverageProxy

        return CoverageProxy(embedder=embedder, field=cfg.coverage.field, k=cfg.coverage.k)
    from sft_select.evaluate.proxy_lm import LoRAProxy

    return LoRAProxy(**cfg.lm.model_dump())
