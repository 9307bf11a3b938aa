"""The `preprocess` config section."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    exact_dedup: bool = Field(True, description="drop repeats of the same normalized example")
    keep: str = Field("best", pattern="^(best|first)$",
                      description="which member of a duplicate cluster stays: best combined score, or first")
