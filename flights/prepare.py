"""Cleaning, joins and the label: raw tables in, one row per scheduled flight out.

Outcomes of the flight (actual times, delays, air time) are dropped here, after the
label is taken from them, so no feature function can ever see them. Identifiers
used only to join (tail number) are dropped too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flights.options import Options

LABEL = "late_arrival"
KEY = "flight_key"

OUTCOME_COLUMNS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")
IDENTIFIER_COLUMNS = ("tailnum", "flight")
WEATHER_COLUMNS = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib")


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


def attach_weather(
    flights: pd.DataFrame, weather: pd.DataFrame, tolerance_hours: int, max_wind_speed: float
) -> pd.DataFrame:
    """Weather at the origin at the scheduled departure hour, else the latest earlier reading."""
    left = flights.assign(_when=pd.to_datetime(flights["time_hour"], utc=True))
    left["_order"] = np.arange(len(left))
    right = weather[["origin", "time_hour", *WEATHER_COLUMNS]].copy()
    right["_when"] = pd.to_datetime(right["time_hour"], utc=True)
    right = right.drop(columns="time_hour").dropna(subset=["_when"])
    right.loc[right["wind_speed"] > max_wind_speed, "wind_speed"] = np.nan
    joined = pd.merge_asof(
        left.sort_values("_when"),
        right.sort_values("_when"),
        on="_when",
        by="origin",
        direction="backward",
        tolerance=pd.Timedelta(hours=tolerance_hours),
    )
    return joined.sort_values("_order").drop(columns=["_when", "_order"]).reset_index(drop=True)


def attach_planes(flights: pd.DataFrame, planes: pd.DataFrame) -> pd.DataFrame:
    """Aircraft facts by tail number; unknown tail numbers get missing values."""
    aircraft = planes[["tailnum", "year", "seats", "engines"]].rename(
        columns={"year": "plane_year", "seats": "plane_seats", "engines": "plane_engines"}
    )
    return flights.merge(aircraft.drop_duplicates("tailnum"), on="tailnum", how="left")


def attach_timezones(flights: pd.DataFrame, airports: pd.DataFrame) -> pd.DataFrame:
    """UTC offsets of origin and destination, to compare local schedule times."""
    offsets = airports.drop_duplicates("faa").set_index("faa")["tz"]
    return flights.assign(
        origin_tz=flights["origin"].map(offsets).astype(float),
        dest_tz=flights["dest"].map(offsets).astype(float),
    )


def prepare(
    tables: dict[str, pd.DataFrame], options: Options
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The modelling frame and counts of what was dropped (cancelled flights)."""
    flights = tables["flights"]
    cancelled = flights["arr_delay"].isna()
    kept = flights.loc[~cancelled].reset_index(drop=True)
    kept = kept.assign(
        **{LABEL: (kept["arr_delay"] >= options.late_minutes).astype("int8"), KEY: flight_key(kept)}
    )
    kept = attach_weather(
        kept, tables["weather"], options.weather_tolerance_hours, options.max_wind_speed
    )
    kept = attach_planes(kept, tables["planes"])
    kept = attach_timezones(kept, tables["airports"])
    frame = kept.drop(columns=[*OUTCOME_COLUMNS, *IDENTIFIER_COLUMNS])
    return frame, {"flights": len(flights), "cancelled": int(cancelled.sum()), "kept": len(frame)}
