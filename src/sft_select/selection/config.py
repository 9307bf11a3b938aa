"""The `select` config section: how many to keep, and by which strategy."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SelectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    strategy: Literal["top"] = Field("top", description="top: highest combined score first")
    n: int | None = Field(None, ge=1, description="keep at most N examples")
    fraction: float | None = Field(None, gt=0, le=1, description="keep this share of the scored pool")
    threshold: float | None = Field(None, ge=0, le=1, description="keep examples with combined score >= τ")

    @model_validator(mode="after")
    def _one_size(self) -> "SelectConfig":
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either n or fraction, not both")
        return self
