"""Cleaning, joins and the label of the worked example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ..options import Options
from ..prepare import (
    IDENTIFIER_COLUMNS,
    KEY,
    LABEL,
    OUTCOME_COLUMNS,
    attach_weather,
    clean_weather,
    prepare,
)


def flights_frame(**columns) -> pd.DataFrame:
    base = {
        "year": [2013, 2013, 2013],
        "month": [1, 1, 1],
        "day": [1, 1, 1],
        "dep_time": [517.0, np.nan, 600.0],
        "sched_dep_time": [515, 530, 600],
        "dep_delay": [2.0, np.nan, 0.0],
        "arr_time": [830.0, np.nan, 900.0],
        "sched_arr_time": [819, 830, 845],
        "arr_delay": [11.0, np.nan, 20.0],
        "carrier": ["UA", "AA", "B6"],
        "flight": [1545, 33, 77],
        "tailnum": ["N14228", "N619AA", "NUNKNOWN"],
        "origin": ["EWR", "JFK", "EWR"],
        "dest": ["IAH", "MIA", "BQN"],
        "air_time": [227.0, np.nan, 180.0],
        "distance": [1400, 1089, 1576],
        "hour": [5, 5, 6],
        "minute": [15, 30, 0],
        "time_hour": ["2013-01-01T10:00:00Z", "2013-01-01T10:00:00Z", "2013-01-01T11:00:00Z"],
    }
    base.update(columns)
    return pd.DataFrame(base)


def weather_frame(times: list[str], origin: str = "EWR", wind: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin": origin,
            "time_hour": times,
            "temp": np.arange(len(times), dtype=float) + 30,
            "dewp": 20.0,
            "humid": 50.0,
            "wind_dir": 180.0,
            "wind_speed": wind,
            "precip": 0.0,
            "pressure": 1010.0,
            "visib": 10.0,
        }
    )


def tables(weather: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    return {
        "flights": flights_frame(),
        "weather": weather if weather is not None else weather_frame(["2013-01-01T10:00:00Z"]),
        "planes": pd.DataFrame(
            {
                "tailnum": ["N14228", "N619AA"],
                "year": [1999.0, 2004.0],
                "seats": [149, 178],
                "engines": [2, 2],
            }
        ),
        "airports": pd.DataFrame({"faa": ["EWR", "JFK", "IAH", "MIA"], "tz": [-5, -5, -6, -5]}),
        "airlines": pd.DataFrame({"carrier": ["UA"], "name": ["United"]}),
    }


def test_cancelled_flights_are_dropped_and_counted():
    frame, counts = prepare(tables(), Options())
    assert counts == {"flights": 3, "cancelled": 1, "kept": 2}
    assert list(frame["carrier"]) == ["UA", "B6"]


def test_label_is_arrival_delay_at_least_threshold():
    frame, _ = prepare(tables(), Options(late_minutes=15))
    assert list(frame[LABEL]) == [0, 1]
    frame, _ = prepare(tables(), Options(late_minutes=11))
    assert list(frame[LABEL]) == [1, 1]


@pytest.mark.checklist("D4")
def test_outcomes_and_identifiers_never_reach_features():
    frame, _ = prepare(tables(), Options())
    leaked = set(frame.columns) & set(OUTCOME_COLUMNS + IDENTIFIER_COLUMNS)
    assert not leaked


def test_flight_key_is_readable_and_unique():
    frame, _ = prepare(tables(), Options())
    assert frame[KEY].tolist() == ["2013-01-01_UA1545_EWR", "2013-01-01_B677_EWR"]


def test_unknown_tail_number_and_destination_give_missing_values():
    frame, _ = prepare(tables(), Options())
    assert frame["plane_year"].tolist()[0] == 1999.0
    assert np.isnan(frame["plane_year"].iloc[1])
    assert np.isnan(frame["dest_tz"].iloc[1])  # BQN is not in the airports table


def test_weather_uses_latest_reading_within_tolerance():
    weather = weather_frame(["2013-01-01T09:00:00Z"])  # one hour before the 10:00 departure
    frame, _ = prepare(tables(weather), Options(weather_tolerance_hours=2))
    assert frame["temp"].iloc[0] == 30.0
    # the 11:00 departure is two hours after the reading: still inside the tolerance
    assert frame["temp"].iloc[1] == 30.0
    frame, _ = prepare(tables(weather), Options(weather_tolerance_hours=1))
    assert frame["temp"].iloc[0] == 30.0
    assert np.isnan(frame["temp"].iloc[1])


def test_weather_never_comes_from_the_future():
    weather = weather_frame(["2013-01-01T12:00:00Z"])
    frame, _ = prepare(tables(weather), Options())
    assert frame["temp"].isna().all()


def test_weather_from_the_right_airport_only():
    weather = weather_frame(["2013-01-01T10:00:00Z"], origin="JFK")
    frame, _ = prepare(tables(weather), Options())
    assert frame["temp"].isna().all()


def test_impossible_wind_speed_is_cleaned():
    flights = flights_frame()
    weather = weather_frame(["2013-01-01T10:00:00Z"], wind=1048.0)
    joined = attach_weather(flights, clean_weather(weather, max_wind_speed=150), tolerance_hours=2)
    assert joined["wind_speed"].isna().all()


def test_row_order_survives_the_joins():
    shuffled = flights_frame(
        time_hour=["2013-01-01T11:00:00Z", "2013-01-01T10:00:00Z", "2013-01-01T09:00:00Z"]
    )
    joined = attach_weather(
        shuffled, clean_weather(weather_frame(["2013-01-01T08:00:00Z"]), 150), 4
    )
    assert joined["carrier"].tolist() == ["UA", "AA", "B6"]


def test_all_null_label_leaves_nothing():
    broken = dict(tables())
    broken["flights"] = flights_frame(arr_delay=[np.nan, np.nan, np.nan])
    frame, counts = prepare(broken, Options())
    assert frame.empty and counts["cancelled"] == 3


@pytest.mark.parametrize("bad", [{"late_minutes": 0}, {"colour": "red"}])
def test_options_are_validated(bad):
    with pytest.raises(ValueError):
        Options(**bad)
