"""Options of the worked example: ``domain.options`` in params.yaml.

EDIT HERE: whatever your source, preparation and features need (paths, thresholds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    """``domain.options`` in params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    late_minutes: int = Field(15, ge=1, description="arrival delay that counts as late")
    weather_tolerance_hours: int = Field(
        2, ge=0, description="use the latest observation up to this many hours before departure"
    )
    max_wind_speed: float = Field(
        150.0, gt=0, description="mph; faster readings are sensor errors and become missing"
    )
    source_dir: str | None = Field(None, description="read the CSVs here instead of the package")
