"""Command-line flags turned into config overrides, shared by the commands (`run`, `select`, `tune`)."""
from __future__ import annotations

import math
from typing import Any

from sft_select.core.errors import ConfigError
from sft_select.core.textsafe import clip


def parse_weights(spec: str | None) -> dict[str, Any]:
    """`relevance_embedding=0.6,quality_heuristic=0.4` -> views.settings overrides."""
    out: dict[str, Any] = {}
    if not spec:
        return out
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or weight is None or not name.strip():
            raise ConfigError(f"--weights: expected name=number, got '{clip(part)}'")
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"--weights: {clip(name.strip())}={clip(value.strip())}: a weight must be a finite "
                              "number >= 0")
        out[name.strip()] = {"weight": weight}
    return out


PROXY_MODELS = ("logreg", "mlp", "encoder")


def proxy_override(proxy: str) -> dict[str, Any]:
    """`--proxy`: a proxy kind (auto, classifier, lm, coverage), or a classifier model, which implies the
    classifier."""
    if proxy in PROXY_MODELS:
        return {"proxy": "classifier", "classifier": {"model": proxy}}
    if proxy in ("auto", "classifier", "lm", "coverage"):
        return {"proxy": proxy}
    raise ConfigError(f"--proxy: expected auto, classifier, lm, coverage or a classifier model "
                      f"({', '.join(PROXY_MODELS)}), got '{proxy}'")
