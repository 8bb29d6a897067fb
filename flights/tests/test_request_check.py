"""The example's serving check: ``time_hour`` must be a real instant that agrees with the
record's date and scheduled departure hour (issue 12: a January time_hour on a November
record changed the answer; impossible dates were 500s)."""

from __future__ import annotations

import json

import pytest

from ..prepare import SERVING_FIELDS, check_request


def test_every_real_flight_passes(small_source):
    """A 5% sample of the real flights, DST changes included: no false alarm."""
    rows = small_source["flights"][list(SERVING_FIELDS)]
    records = json.loads(rows.to_json(orient="records"))
    assert len(records) > 15_000
    assert [r for r in records if check_request(r)] == []


@pytest.mark.parametrize(
    ("time_hour", "words"),
    [
        ("2013-02-30T10:00:00Z", "not a real"),
        ("2013-13-01T10:00:00Z", "not a real"),
        ("0001-01-01T00:00:00Z", "not a real"),
        ("9999-12-31T23:00:00Z", "9999-12-31 18h"),
        ("1600-01-01T10:00:00Z", "1600-01-01 05h"),
        ("2013-01-01T10:00:00Z", "2013-01-01 05h"),  # January on a November record
        ("2013-11-03T11:00:00Z", "06h"),  # the right day, the wrong hour
    ],
)
def test_a_time_hour_that_disagrees_is_named(time_hour, words):
    november = {
        "year": 2013,
        "month": 11,
        "day": 3,
        "sched_dep_time": 559,
        "time_hour": "2013-11-03T10:00:00Z",
    }
    assert check_request(november) == {}
    problems = check_request({**november, "time_hour": time_hour})
    assert list(problems) == ["time_hour"] and words in problems["time_hour"]
