"""The data contract, enforced at serving time from the same expectation suites.

- ``request_model`` derives the request schema (types, ranges, allowed values, required
  fields) from a table's suite, so a bad request is a 422 naming the field.
- ``RowRules`` (``row_violations``) checks served rows against the row-level expectations
  of a suite (ranges, allowed values, required values). Great Expectations is far too slow to run
  per request, so these three expectation kinds are evaluated here, vectorised, from the
  very same suite files (checklist Mo2)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

INTEGER_TYPES = {"int64", "int32", "Int64", "int"}
FLOAT_TYPES = {"float64", "float32", "float"}


def _by_column(suite: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    columns: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in suite["expectations"]:
        column = spec["kwargs"].get("column")
        if column:
            columns.setdefault(column, {})[spec["type"]] = spec["kwargs"]
    return columns


def _python_type(type_list: list[str]) -> type:
    names = set(type_list)
    if names <= INTEGER_TYPES:
        return int
    if names <= INTEGER_TYPES | FLOAT_TYPES:
        return float
    return str


def request_model(suite: dict[str, Any], fields: tuple[str, ...], name: str) -> type[BaseModel]:
    """A pydantic model of one record, derived from the suite's expectations on ``fields``."""
    rules = _by_column(suite)
    definitions: dict[str, Any] = {}
    for field_name in fields:
        rule = rules.get(field_name, {})
        kind: Any = _python_type(
            rule.get("expect_column_values_to_be_in_type_list", {}).get("type_list", ["str"])
        )
        constraints: dict[str, Any] = {}
        between = rule.get("expect_column_values_to_be_between")
        if between and "mostly" not in between:
            constraints.update(ge=between.get("min_value"), le=between.get("max_value"))
        allowed = rule.get("expect_column_values_to_be_in_set")
        if allowed and "mostly" not in allowed:
            kind = Literal[tuple(allowed["value_set"])]
        regex = rule.get("expect_column_values_to_match_regex")
        if regex:
            constraints["pattern"] = regex["regex"]
        length = rule.get("expect_column_value_lengths_to_equal")
        if length:
            constraints.update(min_length=length["value"], max_length=length["value"])
        not_null = rule.get("expect_column_values_to_not_be_null")
        required = not_null is not None and "mostly" not in not_null
        if required:
            definitions[field_name] = (kind, Field(..., **constraints))
        else:
            definitions[field_name] = (kind | None, Field(None, **constraints))
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(name, __config__=config, **definitions)


class RowRules:
    """The row-level expectations of a suite (ranges, allowed values, required values),
    read once and checked per request on plain arrays: the same rules ``row_violations``
    names, at a per-request cost of microseconds rather than of pandas calls."""

    def __init__(self, suite: dict[str, Any]) -> None:
        self.checks: list[tuple[str, str, Any, str]] = []  # column, kind, argument, label
        for column, rule in _by_column(suite).items():
            between = rule.get("expect_column_values_to_be_between")
            if between:
                low, high = between.get("min_value"), between.get("max_value")
                self.checks.append(
                    (column, "between", (low, high), f"{column}: outside [{low}, {high}]")
                )
            allowed = rule.get("expect_column_values_to_be_in_set")
            if allowed:
                self.checks.append(
                    (column, "in_set", set(allowed["value_set"]), f"{column}: not an allowed value")
                )
            not_null = rule.get("expect_column_values_to_not_be_null")
            if not_null and "mostly" not in not_null:
                self.checks.append((column, "not_null", None, f"{column}: missing"))

    def __call__(self, frame: pd.DataFrame) -> list[list[str]]:
        """For each row of ``frame``, the rules it breaks (``column: rule``)."""
        found: list[list[str]] = [[] for _ in range(len(frame))]
        columns = set(frame.columns)
        for column, kind, argument, label in self.checks:
            if column not in columns:
                continue
            values = frame[column]
            if kind == "between":
                if values.dtype.kind not in "fiub":
                    values = pd.to_numeric(values, errors="coerce")
                numbers = values.to_numpy(dtype=float, na_value=np.nan)
                low, high = argument
                bad = np.zeros(len(frame), dtype=bool)
                if low is not None:
                    bad |= numbers < low
                if high is not None:
                    bad |= numbers > high
            elif kind == "in_set":
                array = values.to_numpy()
                missing = pd.isna(array)
                bad = np.array(
                    [
                        not gone and value not in argument
                        for value, gone in zip(array, missing, strict=True)
                    ],
                    dtype=bool,
                )
            else:
                bad = pd.isna(values.to_numpy())
            for row in np.flatnonzero(bad):
                found[row].append(label)
        return found


def row_violations(frame: pd.DataFrame, suite: dict[str, Any]) -> list[list[str]]:
    """For each row, the row-level expectations of ``suite`` it breaks (``column: rule``)."""
    return RowRules(suite)(frame)
