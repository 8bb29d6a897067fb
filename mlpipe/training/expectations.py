"""Draft an expectation suite from data: what the training window looked like, written as
Great Expectations entries in our suite format (configs/expectations/, read by
mlpipe.core.validation.load_suite), each one with ``meta.notes`` saying what it saw.

A draft is a starting point for review, not a verdict: ranges get a margin, null rates
a tolerance, row counts a factor, so the next window of ordinary data passes and a
broken extract does not. Pure: frames in, a suite dict out."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

# type lists as the existing suites (and the serving contract) spell them
INTEGER_TYPES = ["int64", "int32", "Int64"]
FLOAT_TYPES = ["float64", "float32", "int64", "Int64"]
TEXT_TYPES = ["object", "str", "string", "StringDtype"]
BOOL_TYPES = ["bool", "boolean"]


@dataclass(frozen=True)
class DraftRules:
    """How loose a draft is. ``margin``: share of the observed range added on each side;
    ``within_range``: share of values that must fall in it (long tails reach past any
    training window); ``null_slack``: extra missing share tolerated; ``rows_factor``: row
    counts may shrink or grow by this factor; ``max_categories``: more distinct values
    than this get no value set."""

    margin: float = 0.1
    within_range: float = 0.99
    null_slack: float = 0.05
    rows_factor: float = 2.0
    max_categories: int = 50


@dataclass(frozen=True)
class Roles:
    """Columns with a role beyond their values: the key (unique), the label (0/1), the
    time (grows: no upper bound), the split (its window names), and the columns to treat
    as categories whatever their type."""

    key: str | None = None
    label: str | None = None
    time: str | None = None
    split: str | None = None
    windows: tuple[str, ...] = ()
    categorical: Collection[str] = ()


def _expectation(kind: str, notes: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"notes": notes}}


def _plain(value: Any) -> Any:
    """numpy scalars as JSON-safe Python values."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fmt(value: Any) -> str:
    return json.dumps(_plain(value), default=str)


def _type_list(column: pd.Series) -> list[str]:
    """The usual spellings of the column's kind of type, its own dtype among them."""
    if ptypes.is_bool_dtype(column):
        names = BOOL_TYPES
    elif ptypes.is_integer_dtype(column):
        names = INTEGER_TYPES
    elif ptypes.is_float_dtype(column):
        names = FLOAT_TYPES
    elif ptypes.is_datetime64_any_dtype(column):
        names = []
    else:
        names = TEXT_TYPES
    return list(dict.fromkeys([*names, str(column.dtype)]))


def _is_categorical(column: pd.Series, roles: Roles) -> bool:
    if column.name in roles.categorical:
        return True
    numeric = ptypes.is_numeric_dtype(column) or ptypes.is_datetime64_any_dtype(column)
    return not numeric or ptypes.is_bool_dtype(column)


def row_count(rows: int, rules: DraftRules) -> dict[str, Any]:
    low, high = math.floor(rows / rules.rows_factor), math.ceil(rows * rules.rows_factor)
    return _expectation(
        "expect_table_row_count_to_be_between",
        f"saw {rows} rows; allows {low}..{high} (a factor {rules.rows_factor:g} either way)",
        min_value=low,
        max_value=high,
    )


def _range(
    name: str, train: pd.Series, whole: pd.Series, roles: Roles, rules: DraftRules
) -> dict[str, Any]:
    """Between the training window's extremes widened by the margin; the time column
    from the whole table's first value on, with no upper bound (time goes on)."""
    if name == roles.time:
        first = _plain(whole.min())
        return _expectation(
            "expect_column_values_to_be_between",
            f"time column: first value {_fmt(first)} in the whole table; no upper bound",
            column=name,
            min_value=first,
            max_value=None,
        )
    values = train.dropna()
    if ptypes.is_integer_dtype(whole) and len(values) >= 20 and values.is_unique:
        return _expectation(
            "expect_column_values_to_be_between",
            f"every training value distinct (an id or a counter?): from {_fmt(values.min())}, "
            "no upper bound",
            column=name,
            min_value=_plain(values.min()),
            max_value=None,
        )
    low, high = float(values.min()), float(values.max())
    pad = rules.margin * (high - low) or rules.margin * max(abs(low), 1.0)
    lower, upper = low - pad, high + pad
    notes = (
        f"training window: min {low:g}, max {high:g} over {len(values)} values; widened by "
        f"{rules.margin:.0%} of the range on each side; {rules.within_range:.0%} of values "
        "must fall inside"
    )
    seen = whole.dropna().astype(float)
    outside = float(((seen < lower) | (seen > upper)).mean()) if len(seen) else 0.0
    if outside > 1 - rules.within_range:
        lower, upper = min(lower, seen.min() - pad), max(upper, seen.max() + pad)
        notes += (
            f". The whole table reaches {seen.min():g}..{seen.max():g} ({outside:.0%} outside "
            "the training range: growth or drift? review it): widened to hold it"
        )
    if ptypes.is_integer_dtype(whole):
        lower, upper = math.floor(lower), math.ceil(upper)
    else:
        lower, upper = round(lower, 6), round(upper, 6)
    return _expectation(
        "expect_column_values_to_be_between",
        notes,
        column=name,
        min_value=_plain(lower),
        max_value=_plain(upper),
        mostly=rules.within_range,
    )


def _distinct(column: pd.Series) -> list[Any]:
    return sorted((_plain(v) for v in column.dropna().unique().tolist()), key=str)


def _value_set(
    name: str, train: pd.Series, whole: pd.Series, rules: DraftRules
) -> dict[str, Any] | None:
    """The training window's values; values that only later windows have are added, and
    named in the notes for review."""
    values, everything = _distinct(train), _distinct(whole)
    if not values or len(everything) > rules.max_categories:
        return None
    later = [v for v in everything if v not in values]
    notes = f"training window: {len(values)} distinct values; a new one fails (review it)"
    if later:
        notes += f". Only after the training window: {later[:10]} (added; review them)"
    return _expectation(
        "expect_column_values_to_be_in_set",
        notes,
        column=name,
        value_set=sorted([*values, *later], key=str),
    )


def _not_null(
    name: str, train: pd.Series, whole: pd.Series, rules: DraftRules, strict: bool
) -> dict[str, Any] | None:
    """Required when the training window has no gaps (and always for the key, label,
    time and split); else a tolerance above the larger of the training and whole-table
    missing shares."""
    rows = len(train)
    missing = int(train.isna().sum())
    share = max(missing / max(rows, 1), float(whole.isna().mean()) if len(whole) else 0.0)
    if strict or share == 0:
        return _expectation(
            "expect_column_values_to_not_be_null",
            f"no missing values in {rows} training rows",
            column=name,
        )
    if missing == rows:
        return None
    mostly = max(0.0, math.floor((1 - share - rules.null_slack) * 100) / 100)
    return _expectation(
        "expect_column_values_to_not_be_null",
        f"{missing} of {rows} training rows missing ({missing / max(rows, 1):.1%}; "
        f"{whole.isna().mean():.1%} in the whole table); allows up to {1 - mostly:.0%}",
        column=name,
        mostly=mostly,
    )


def _label(name: str, train: pd.Series, rules: DraftRules) -> list[dict[str, Any]]:
    rate = float(train.mean())
    low = max(0.0, round(rate - max(rules.margin, rate / 2), 3))
    high = min(1.0, round(rate + max(rules.margin, rate / 2), 3))
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            "the label is 0 or 1",
            column=name,
            value_set=[0, 1],
        ),
        _expectation(
            "expect_column_mean_to_be_between",
            f"label rate {rate:.3f} in the training window; allows {low}..{high}",
            column=name,
            min_value=low,
            max_value=high,
        ),
    ]


def column_expectations(
    name: str, train: pd.Series, whole: pd.Series, roles: Roles, rules: DraftRules
) -> list[dict[str, Any]]:
    """What one column's training values say: its type, its values (range or set), its
    null rate; uniqueness for the key, 0/1 and a rate for the label."""
    strict = name in (roles.key, roles.label, roles.split, roles.time)
    drafted: list[dict[str, Any] | None] = [
        _expectation(
            "expect_column_values_to_be_in_type_list",
            f"dtype {whole.dtype} in the table",
            column=name,
            type_list=_type_list(whole),
        ),
        _not_null(name, train, whole, rules, strict),
    ]
    if name == roles.key:
        drafted.append(
            _expectation(
                "expect_column_values_to_be_unique",
                "the key: labels arrive by key, so it must be unique",
                column=name,
            )
        )
    elif name == roles.label:
        drafted.extend(_label(name, train, rules))
    elif name == roles.split:
        drafted.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "the time windows of params.yaml split",
                column=name,
                value_set=list(roles.windows),
            )
        )
    elif train.notna().any() and _is_categorical(whole, roles):
        drafted.append(_value_set(name, train, whole, rules))
    elif train.notna().any() and not ptypes.is_datetime64_any_dtype(whole):
        drafted.append(_range(name, train, whole, roles, rules))
    return [entry for entry in drafted if entry is not None]


def draft_suite(
    name: str,
    whole: pd.DataFrame,
    train: pd.DataFrame,
    roles: Roles = Roles(),
    rules: DraftRules = DraftRules(),
) -> dict[str, Any]:
    """A suite for the table ``whole``: its row count and columns from the whole table,
    every column's values from ``train`` (the training window)."""
    expectations = [
        row_count(len(whole), rules),
        _expectation(
            "expect_table_columns_to_match_set",
            f"the {len(whole.columns)} columns seen; more are allowed",
            column_set=[str(c) for c in whole.columns],
            exact_match=False,
        ),
    ]
    for column in whole.columns:
        expectations.extend(
            column_expectations(str(column), train[column], whole[column], roles, rules)
        )
    return {"name": name, "expectations": expectations}


def suite_text(suite: dict[str, Any]) -> str:
    """The suite as the repository keeps it: indented JSON with a final newline."""
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"
