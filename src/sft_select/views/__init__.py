"""Built-in views. Importing this package registers them; one module per view."""
from sft_select.views import (  # noqa: F401
    difficulty_margin,
    diversity,
    quality_heuristic,
    quality_label,
    quality_model,
    quality_reward,
    relevance_dsir,
    relevance_embedding,
    relevance_learned,
)
from sft_select.views import lm_difficulty, lm_quality  # noqa: F401  (LM views; torch loads lazily)
from sft_select.views import quality_learned  # noqa: F401  (the shipped model loads in fit)
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import build, register, registered, resolve_names

__all__ = ["View", "ViewResult", "build", "register", "registered", "resolve_names"]
