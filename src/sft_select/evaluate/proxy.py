"""The factory that picks a proxy from the `evaluate` config section, and the registry it reads.

Adding a proxy: a module in this folder with a class following `base.Proxy` and a
`from_config(cfg: EvaluateConfig, embedder: str)` that builds it, its settings as a sub-section of
`EvaluateConfig` (evaluate/config.py), and one line in `PROXIES` below (one in `CLASSIFIERS` for another
classifier model).
"""
from __future__ import annotations

from typing import Callable, Sequence

from sft_select.core.device import gpu_available
from sft_select.core.errors import ConfigError
from sft_select.core.record import Example
from sft_select.evaluate import proxy_classifier, proxy_coverage, proxy_encoder, proxy_mlp
from sft_select.evaluate.base import Proxy, ProxyScore
from sft_select.evaluate.config import EvaluateConfig

Builder = Callable[[EvaluateConfig, str], Proxy]


def _lm(cfg: EvaluateConfig, embedder: str) -> Proxy:
    from sft_select.evaluate.proxy_lm import LoRAProxy  # torch and transformers: only when asked for

    return LoRAProxy(**cfg.lm.model_dump())


# evaluate.classifier.model -> the classifier proxy that trains it.
CLASSIFIERS: dict[str, Builder] = {
    "logreg": proxy_classifier.from_config,
    "mlp": proxy_mlp.from_config,
    "encoder": proxy_encoder.from_config,
}


def _classifier(cfg: EvaluateConfig, embedder: str) -> Proxy:
    return CLASSIFIERS[cfg.classifier.model](cfg, embedder)


# evaluate.proxy -> its builder.
PROXIES: dict[str, Builder] = {
    "classifier": _classifier,
    "lm": _lm,
    "coverage": proxy_coverage.from_config,
}

# What each proxy needs of the data, checked before it is built.
NEEDS_LABELS = {"classifier"}


def _gpu() -> bool:
    """Whether a CUDA (or ROCm) device is there for the LoRA proxy (answered without torch when no driver)."""
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
    if kind in NEEDS_LABELS and not any(ex.label is not None for ex in pool):
        raise ConfigError(f"evaluate.proxy: {kind} needs labelled data (text/label rows); use lm")
    return PROXIES[kind](cfg, embedder)


__all__ = ["CLASSIFIERS", "PROXIES", "Proxy", "ProxyScore", "build_proxy", "proxy_kind"]
