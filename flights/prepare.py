"""Cleaning, joins and the label: raw tables in, one row per scheduled flight out.

Training and serving share this code: ``build_context`` turns the reference tables
(weather, planes, airports) into lookups once, and ``enrich`` joins them onto flights,
whether those are 300k historical rows or one request. ``prepare`` adds what only
training has: the label, taken from the flight's outcome, and the cancelled flights.

Outcomes (actual times, delays, air time) are dropped after the label is taken, and
identifiers used only to join (tail number, flight number) are dropped too, so no
feature function can ever see them.

EDIT HERE: your label (``LABEL``, set in ``prepare``), key (``KEY``, built in ``enrich``),
the fields a request carries (``SERVING_FIELDS``), the joins training and serving share
(``build_context``, ``enrich``), and which columns are outcomes or identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .options import Options

LABEL = "late_arrival"
KEY = "flight_key"

OUTCOME_COLUMNS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")
IDENTIFIER_COLUMNS = ("tailnum", "flight")
# every origin (EWR, JFK, LGA) keeps New York time; time_hour is its UTC instant
ORIGIN_TIMEZONE = ZoneInfo("America/New_York")
WEATHER_COLUMNS = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib")
# what a caller knows before departure: the fields a prediction request carries
SERVING_FIELDS = (
    "year",
    "month",
    "day",
    "sched_dep_time",
    "sched_arr_time",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "time_hour",
)


@dataclass(frozen=True)
class Context:
    """Reference data as lookups: weather readings in time order, aircraft, time zones."""

    weather: pd.DataFrame
    planes: pd.DataFrame
    timezones: pd.Series


def flight_key(flights: pd.DataFrame) -> pd.Series:
    """A readable unique key (date, carrier, flight number, origin) to join labels later."""
    date = (
        flights["year"].astype(str)
        + "-"
        + flights["month"].astype(str).str.zfill(2)
        + "-"
        + flights["day"].astype(str).str.zfill(2)
    )
    return date + "_" + flights["carrier"] + flights["flight"].astype(str) + "_" + flights["origin"]


def clean_weather(weather: pd.DataFrame, max_wind_speed: float) -> pd.DataFrame:
    """Readings in time order, with impossible wind speeds (sensor errors) made missing."""
    readings = weather[["origin", "time_hour", *WEATHER_COLUMNS]].copy()
    readings["_when"] = pd.to_datetime(readings["time_hour"], utc=True)
    readings = readings.drop(columns="time_hour").dropna(subset=["_when"])
    readings.loc[readings["wind_speed"] > max_wind_speed, "wind_speed"] = np.nan
    return readings.sort_values("_when", kind="stable").reset_index(drop=True)


def attach_weather(
    flights: pd.DataFrame, readings: pd.DataFrame, tolerance_hours: int
) -> pd.DataFrame:
    """Weather at the origin at the scheduled departure hour, else the latest earlier
    reading within the tolerance; never a later one."""
    left = flights.assign(_when=pd.to_datetime(flights["time_hour"], utc=True))
    left["_order"] = np.arange(len(left))
    joined = pd.merge_asof(
        left.sort_values("_when", kind="stable"),
        readings,
        on="_when",
        by="origin",
        direction="backward",
        tolerance=pd.Timedelta(hours=tolerance_hours),
    )
    return joined.sort_values("_order").drop(columns=["_when", "_order"]).reset_index(drop=True)


def build_context(tables: dict[str, pd.DataFrame], options: Options) -> Context:
    planes = tables["planes"][["tailnum", "year", "seats", "engines"]].rename(
        columns={"year": "plane_year", "seats": "plane_seats", "engines": "plane_engines"}
    )
    return Context(
        weather=clean_weather(tables["weather"], options.max_wind_speed),
        planes=planes.drop_duplicates("tailnum"),
        timezones=tables["airports"].drop_duplicates("faa").set_index("faa")["tz"],
    )


def enrich(flights: pd.DataFrame, context: Context, options: Options) -> pd.DataFrame:
    """Flights (historical or requested) joined with weather, aircraft and time zones;
    outcomes and identifiers dropped."""
    frame = flights.assign(**{KEY: flight_key(flights)})
    frame = attach_weather(frame, context.weather, options.weather_tolerance_hours)
    frame = frame.merge(context.planes, on="tailnum", how="left")
    frame = frame.assign(
        origin_tz=frame["origin"].map(context.timezones).astype(float),
        dest_tz=frame["dest"].map(context.timezones).astype(float),
    )
    dropped = [c for c in (*OUTCOME_COLUMNS, *IDENTIFIER_COLUMNS) if c in frame.columns]
    return frame.drop(columns=dropped)


def check_request(record: dict[str, Any]) -> dict[str, str]:
    """Serving: ``time_hour`` must be a real instant and name the scheduled departure's hour
    (New York time) of the record's own date, or the weather joined would be another
    day's. Problems by field (the request schema checks each field alone)."""
    text = record.get("time_hour")
    if text is None:
        return {}
    try:
        when = datetime.fromisoformat(text)  # the schema holds it to YYYY-MM-DDTHH:MM:SSZ
        local = when.astimezone(ORIGIN_TIMEZONE)
    except (ValueError, OverflowError) as error:
        return {"time_hour": f"not a real UTC date and time: {error}"}
    hour = record.get("sched_dep_time")
    hour = None if hour is None else (hour // 100) % 24
    claimed = [record.get(name) for name in ("year", "month", "day")] + [hour]
    actual = [local.year, local.month, local.day, local.hour]
    if any(c is not None and c != a for c, a in zip(claimed, actual, strict=True)):
        return {
            "time_hour": f"{text} is {local:%Y-%m-%d %H}h New York time; the record says "
            f"year {claimed[0]}, month {claimed[1]}, day {claimed[2]}, departure hour {hour}"
        }
    return {}


def prepare(
    tables: dict[str, pd.DataFrame], options: Options
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The modelling frame and counts of what was dropped (cancelled flights)."""
    flights = tables["flights"]
    cancelled = flights["arr_delay"].isna()
    kept = flights.loc[~cancelled].reset_index(drop=True)
    kept = kept.assign(**{LABEL: (kept["arr_delay"] >= options.late_minutes).astype("int8")})
    frame = enrich(kept, build_context(tables, options), options)
    return frame, {"flights": len(flights), "cancelled": int(cancelled.sum()), "kept": len(frame)}
