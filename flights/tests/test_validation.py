"""The expectation suites in configs/expectations/ pass on good data and each kind of
expectation catches a crafted violation (checklist D1), through real Great Expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.validation import load_suite, validate_tables
from mlpipe.training.featurize import build_feature_table
from tests.helpers import REPO

from ..features import registry as features
from ..options import Options
from ..prepare import prepare

SUITES = REPO / "configs" / "expectations"


def raw_suites() -> dict:
    return {path.stem: load_suite(path) for path in sorted((SUITES / "raw").glob("*.json"))}


@pytest.fixture(scope="module")
def feature_table_once(small_source_once, params) -> pd.DataFrame:
    """Built once per module: never change it (``feature_table`` is a test's own copy)."""
    base, _ = prepare(small_source_once, Options())
    passthrough = ["flight_key", "late_arrival", "month", "origin", "carrier"]
    table, _ = build_feature_table(
        base, features, params.features, passthrough, params.split, "month"
    )
    return table


@pytest.fixture
def feature_table(feature_table_once) -> pd.DataFrame:
    return feature_table_once.copy()


def failed(report) -> set[tuple[str, str | None]]:
    return {(check.expectation, check.column) for check in report.failures}


def test_good_raw_data_passes(small_source):
    report = validate_tables("raw", small_source, raw_suites())
    assert report.success, report.summary()
    assert len(report.checks) > 40


def test_good_features_pass(feature_table):
    report = validate_tables(
        "features", {"features": feature_table}, {"features": load_suite(SUITES / "features.json")}
    )
    assert report.success, report.summary()


RAW_VIOLATIONS = {
    "missing column": (
        "flights",
        lambda f: f.drop(columns=["distance"]),
        ("expect_table_columns_to_match_set", None),
    ),
    "wrong type": (
        "flights",
        lambda f: f.assign(distance=f["distance"].astype(str)),
        ("expect_column_values_to_be_in_type_list", "distance"),
    ),
    "out of range": (
        "flights",
        lambda f: f.assign(month=np.where(f.index == 0, 13, f["month"])),
        ("expect_column_values_to_be_between", "month"),
    ),
    "unknown category": (
        "flights",
        lambda f: f.assign(carrier=np.where(f.index < 3, "ZZ", f["carrier"])),
        ("expect_column_values_to_be_in_set", "carrier"),
    ),
    "label all null": (
        "flights",
        lambda f: f.assign(arr_delay=np.nan),
        ("expect_column_values_to_not_be_null", "arr_delay"),
    ),
    "duplicate flights": (
        "flights",
        lambda f: pd.concat([f, f.head(5)], ignore_index=True),
        ("expect_compound_columns_to_be_unique", None),
    ),
    "truncated table": (
        "flights",
        lambda f: f.head(500),
        ("expect_table_row_count_to_be_between", None),
    ),
    "duplicate weather hour": (
        "weather",
        lambda w: pd.concat([w, w.head(1)], ignore_index=True),
        ("expect_compound_columns_to_be_unique", None),
    ),
    "duplicate tail number": (
        "planes",
        lambda p: pd.concat([p, p.head(1)], ignore_index=True),
        ("expect_column_values_to_be_unique", "tailnum"),
    ),
    "implausible temperature": (
        "weather",
        lambda w: w.assign(temp=np.where(w.index == 0, 180.0, w["temp"])),
        ("expect_column_values_to_be_between", "temp"),
    ),
}


@pytest.mark.parametrize("case", sorted(RAW_VIOLATIONS))
def test_raw_suite_catches(case, small_source):
    table, change, expected = RAW_VIOLATIONS[case]
    tables = dict(small_source)
    tables[table] = change(small_source[table].copy())
    report = validate_tables("raw", tables, raw_suites())
    assert not report.success
    assert expected in failed(report)
    summary = report.summary()
    assert expected[0] in summary and "observed" in summary
    if expected[1]:
        assert f"{table}.{expected[1]}" in summary


FEATURE_VIOLATIONS = {
    "label outside 0/1": (
        lambda t: t.assign(late_arrival=2),
        ("expect_column_values_to_be_in_set", "late_arrival"),
    ),
    "hour out of range": (
        lambda t: t.assign(dep_hour=25.0),
        ("expect_column_values_to_be_between", "dep_hour"),
    ),
    "unknown split": (
        lambda t: t.assign(split="later"),
        ("expect_column_values_to_be_in_set", "split"),
    ),
    "duplicate key": (
        lambda t: pd.concat([t, t.head(2)], ignore_index=True),
        ("expect_column_values_to_be_unique", "flight_key"),
    ),
    "weather mostly missing": (
        lambda t: t.assign(temp=np.nan),
        ("expect_column_values_to_not_be_null", "temp"),
    ),
}


@pytest.mark.parametrize("case", sorted(FEATURE_VIOLATIONS))
def test_feature_suite_catches(case, feature_table):
    change, expected = FEATURE_VIOLATIONS[case]
    report = validate_tables(
        "features",
        {"features": change(feature_table.copy())},
        {"features": load_suite(SUITES / "features.json")},
    )
    assert expected in failed(report)


def test_report_is_deterministic_and_readable(small_source):
    first = validate_tables("raw", small_source, raw_suites())
    second = validate_tables("raw", small_source, raw_suites())
    assert first.to_dict() == second.to_dict()
    html = first.to_html()
    assert "<table>" in html and "expect_column_values_to_be_in_set" in html
