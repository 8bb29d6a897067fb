from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    """``domain.options`` of the toy domain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows_per_week: int = Field(300, ge=10)
    weeks: int = Field(20, ge=4)
    seed: int = 0
    drift_from_week: int | None = Field(None, description="weeks from here on drift")
