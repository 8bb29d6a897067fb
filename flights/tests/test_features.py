"""Unit tests of every feature function of the worked example (checklist D7), with edge
cases: flights across midnight and time zones, missing weather, unknown aircraft, NaNs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.errors import ConfigError
from mlpipe.core.features import FeatureRegistry

from ..features import registry as features

pytestmark = pytest.mark.checklist("D7")


def prepared(**overrides) -> pd.DataFrame:
    """One prepared row (as prepare.py makes it), with selected values changed."""
    row = {
        "year": 2013,
        "month": 3,
        "day": 4,
        "sched_dep_time": 1545,
        "sched_arr_time": 1830,
        "carrier": "UA",
        "origin": "EWR",
        "dest": "ORD",
        "distance": 719.0,
        "origin_tz": -5.0,
        "dest_tz": -6.0,
        "plane_year": 2003.0,
        "plane_seats": 178.0,
        "temp": 41.0,
        "humid": 60.0,
        "wind_speed": 12.0,
        "precip": 0.0,
        "visib": 10.0,
        "pressure": 1015.0,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def value(name: str, **overrides):
    return features.get(name).compute(prepared(**overrides)).iloc[0]


def test_every_feature_in_params_is_registered(params):
    assert set(params.features) <= set(features.names())


@pytest.mark.parametrize("name", features.names())
def test_every_feature_gives_one_typed_value_per_row(name):
    frame = pd.concat([prepared(), prepared(plane_year=np.nan, temp=np.nan, dest_tz=np.nan)])
    computed, costs = features.compute(frame.reset_index(drop=True), [name])
    assert list(computed.columns) == [name]
    assert len(computed) == 2
    if features.get(name).kind == "numeric":
        assert computed[name].dtype == np.float64
    else:
        assert computed[name].map(type).eq(str).all()
    assert costs[name].seconds >= 0 and costs[name].bytes > 0


def test_categorical_features_pass_codes_through():
    assert value("carrier") == "UA"
    assert value("origin") == "EWR"
    assert value("dest") == "ORD"


def test_missing_category_stays_missing():
    computed, _ = features.compute(prepared(carrier=None), ["carrier"])
    assert computed["carrier"].iloc[0] is None


def test_departure_clock_features():
    assert value("dep_hour") == 15
    assert value("dep_minute_of_day") == 15 * 60 + 45
    assert value("dep_hour", sched_dep_time=5) == 0
    assert value("dep_minute_of_day", sched_dep_time=2400) == 0  # 24:00 is midnight


def test_day_of_week_monday_is_zero():
    assert value("day_of_week", year=2013, month=3, day=4) == 0  # 4 March 2013 was a Monday
    assert value("day_of_week", year=2013, month=3, day=10) == 6


def test_day_of_week_invalid_date_is_missing():
    assert math.isnan(value("day_of_week", month=2, day=30))


def test_scheduled_duration_across_time_zones():
    # 15:45 Eastern to 18:30 Central is 3h45m gate to gate
    assert value("sched_duration") == 225


def test_scheduled_duration_across_midnight():
    # 22:00 at EWR (Eastern) to 00:40 at ORD (Central) the next day: 3h40m
    assert value("sched_duration", sched_dep_time=2200, sched_arr_time=40) == 220
    assert value("arrives_next_day", sched_dep_time=2200, sched_arr_time=40) == 1.0
    assert value("arrives_next_day") == 0.0


def test_scheduled_duration_unknown_time_zone_is_missing():
    assert math.isnan(value("sched_duration", dest_tz=np.nan))


def test_plane_features_unknown_tail_number_is_missing():
    assert value("plane_age") == 10
    assert math.isnan(value("plane_age", plane_year=np.nan))
    assert math.isnan(value("plane_seats", plane_seats=np.nan))


@pytest.mark.parametrize("name", ["temp", "humid", "wind_speed", "precip", "visib", "pressure"])
def test_weather_features_missing_hour_is_missing(name):
    assert value(name) == prepared()[name].iloc[0]
    assert math.isnan(value(name, **{name: np.nan}))


def test_bad_weather():
    assert value("bad_weather") == 0.0
    assert value("bad_weather", precip=0.02) == 1.0
    assert value("bad_weather", visib=1.5) == 1.0
    assert math.isnan(value("bad_weather", precip=np.nan))


def test_distance_passes_through():
    assert value("distance") == 719.0


def test_non_numeric_input_to_numeric_feature_becomes_missing():
    computed, _ = features.compute(prepared(distance="far"), ["distance"])
    assert math.isnan(computed["distance"].iloc[0])


def test_registry_rejects_unknown_and_duplicate_features():
    registry = FeatureRegistry()

    @registry.numeric
    def one(frame: pd.DataFrame) -> pd.Series:
        return frame["x"]

    with pytest.raises(ConfigError, match="unknown feature 'two'"):
        registry.compute(pd.DataFrame({"x": [1]}), ["two"])
    with pytest.raises(ValueError, match="registered twice"):
        registry.numeric(one)


@pytest.mark.checklist("D6")
def test_adding_a_feature_is_one_function(params):
    """A new feature is one decorated function; compute picks it up by name (checklist D6)."""
    registry = FeatureRegistry()

    @registry.numeric
    def distance_km(frame: pd.DataFrame) -> pd.Series:
        return frame["distance"] * 1.609344

    computed, _ = registry.compute(prepared(), ["distance_km"])
    assert computed["distance_km"].iloc[0] == pytest.approx(719 * 1.609344)
