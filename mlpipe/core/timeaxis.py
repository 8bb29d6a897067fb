"""Time, whatever its unit: an integer column (month, year, week number) or a date-like
one bucketed into periods (days, weeks, months...). Every window, age and plot axis goes
through ``TimeAxis``, so generic code never assumes months."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# a time value in params.yaml: a number, or a date written as a quoted string
TimeValue = int | float | str


@dataclass(frozen=True)
class TimeAxis:
    """Maps time values to ordered numbers. ``period`` (a pandas frequency such as "D",
    "W", "M", "Y") buckets a date-like column; ``None`` means the column is already a
    number (e.g. a month or a year)."""

    period: str | None = None

    def point(self, value: TimeValue) -> float:
        """One time value (a number, or a date string) as its position on the axis."""
        if self.period is None:
            if isinstance(value, str):
                raise ValueError(f"{value!r} is not a number; set split.period for dates")
            return float(value)
        return float(pd.Period(pd.Timestamp(value), freq=self.period).ordinal)

    def positions(self, values: pd.Series) -> pd.Series:
        """A column of time values as positions (missing where unreadable)."""
        if self.period is None:
            return pd.to_numeric(values, errors="coerce").astype(float)
        stamps = pd.to_datetime(values, errors="coerce", utc=True).dt.tz_localize(None)
        periods = stamps.dt.to_period(self.period)
        ordinals = periods.array.asi8.astype(float)
        ordinals[periods.isna().to_numpy()] = np.nan
        return pd.Series(ordinals, index=values.index)

    def label(self, position: float) -> str:
        """A position back as something a person reads (for plots and reports)."""
        if self.period is None:
            return f"{position:g}"
        return str(pd.Period(ordinal=int(position), freq=self.period))


def as_number(value: Any) -> Any:
    """numpy scalars as plain Python numbers (for JSON and messages)."""
    return value.item() if hasattr(value, "item") else value
