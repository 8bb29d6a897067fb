"""Feature functions of the worked example: each takes the prepared frame (see
``prepare.py``) and returns one column. Enable one by listing its name under
``features:`` in params.yaml.

EDIT HERE: add a feature as one decorated function (``@registry.numeric`` or
``@registry.categorical``), then list its name in params.yaml."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpipe import FeatureRegistry

registry = FeatureRegistry()

MINUTES_PER_DAY = 24 * 60


def _clock_minutes(hhmm: pd.Series) -> pd.Series:
    """HHMM clock integers (e.g. 1545) as minutes after midnight; 2400 is midnight."""
    values = pd.to_numeric(hhmm, errors="coerce")
    return ((values // 100) * 60 + values % 100) % MINUTES_PER_DAY


@registry.categorical
def carrier(frame: pd.DataFrame) -> pd.Series:
    """Two-letter airline code."""
    return frame["carrier"]


@registry.categorical
def origin(frame: pd.DataFrame) -> pd.Series:
    """New York airport of departure (EWR, JFK, LGA)."""
    return frame["origin"]


@registry.categorical
def dest(frame: pd.DataFrame) -> pd.Series:
    """Destination airport code."""
    return frame["dest"]


@registry.numeric
def distance(frame: pd.DataFrame) -> pd.Series:
    """Great-circle distance in miles."""
    return frame["distance"]


@registry.numeric
def dep_hour(frame: pd.DataFrame) -> pd.Series:
    """Scheduled departure hour, local time (0-23)."""
    return _clock_minutes(frame["sched_dep_time"]) // 60


@registry.numeric
def dep_minute_of_day(frame: pd.DataFrame) -> pd.Series:
    """Scheduled departure, minutes after local midnight."""
    return _clock_minutes(frame["sched_dep_time"])


@registry.numeric
def day_of_week(frame: pd.DataFrame) -> pd.Series:
    """Monday=0 ... Sunday=6, from the scheduled date."""
    dates = pd.to_datetime(
        pd.DataFrame({"year": frame["year"], "month": frame["month"], "day": frame["day"]}),
        errors="coerce",
    )
    return dates.dt.dayofweek


@registry.numeric
def sched_duration(frame: pd.DataFrame) -> pd.Series:
    """Scheduled gate-to-gate minutes, across midnight and time zones (missing if a zone is
    unknown)."""
    departure = _clock_minutes(frame["sched_dep_time"])
    arrival_in_origin_time = _clock_minutes(frame["sched_arr_time"]) + 60 * (
        frame["origin_tz"] - frame["dest_tz"]
    )
    return (arrival_in_origin_time - departure) % MINUTES_PER_DAY


@registry.numeric
def arrives_next_day(frame: pd.DataFrame) -> pd.Series:
    """1 when the local arrival clock time is earlier than the departure's (red-eye)."""
    crossed = _clock_minutes(frame["sched_arr_time"]) < _clock_minutes(frame["sched_dep_time"])
    return crossed.astype(float)


@registry.numeric
def plane_age(frame: pd.DataFrame) -> pd.Series:
    """Years since the aircraft was built; missing for unknown tail numbers."""
    return frame["year"] - frame["plane_year"]


@registry.numeric
def plane_seats(frame: pd.DataFrame) -> pd.Series:
    """Seats on the aircraft; missing for unknown tail numbers."""
    return frame["plane_seats"]


@registry.numeric
def temp(frame: pd.DataFrame) -> pd.Series:
    """Temperature at the origin (F) around the scheduled departure."""
    return frame["temp"]


@registry.numeric
def humid(frame: pd.DataFrame) -> pd.Series:
    """Relative humidity at the origin (%)."""
    return frame["humid"]


@registry.numeric
def wind_speed(frame: pd.DataFrame) -> pd.Series:
    """Wind speed at the origin (mph); sensor errors already removed."""
    return frame["wind_speed"]


@registry.numeric
def precip(frame: pd.DataFrame) -> pd.Series:
    """Precipitation at the origin in the hour (inches)."""
    return frame["precip"]


@registry.numeric
def visib(frame: pd.DataFrame) -> pd.Series:
    """Visibility at the origin (miles)."""
    return frame["visib"]


@registry.numeric
def pressure(frame: pd.DataFrame) -> pd.Series:
    """Sea-level pressure at the origin (millibars)."""
    return frame["pressure"]


@registry.numeric
def bad_weather(frame: pd.DataFrame) -> pd.Series:
    """1 when it rains or visibility is under 3 miles at departure, else 0 (missing if unknown)."""
    wet = frame["precip"] > 0
    murky = frame["visib"] < 3
    known = frame["precip"].notna() & frame["visib"].notna()
    return pd.Series(np.where(known, (wet | murky).astype(float), np.nan), index=frame.index)
