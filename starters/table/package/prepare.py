"""Cleaning and the label, driven by ``domain.options``: one row of the table per example.

Training and serving share ``enrich``: it builds the key (a column of the table, or a
stable hash of the request fields) and drops what a request must never carry (the
label's column and the outcomes)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pandas as pd

from mlpipe.core.errors import DataError

from .options import OPERATORS, Options, parse_rule

HASH_KEY = "row_key"


def _canonical(value: Any) -> str:
    """One text per value, the same whether it was read from a file or sent in JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def row_hash(frame: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series:
    """A stable key from the request fields: 16 hex digits of SHA-256 over their values."""
    columns = [c for c in fields if c in frame.columns]
    rows = frame[columns].astype(object).itertuples(index=False, name=None)
    keys = [
        hashlib.sha256("\x1f".join(map(_canonical, row)).encode()).hexdigest()[:16] for row in rows
    ]
    return pd.Series(keys, index=frame.index, dtype=object)


def key_column(options: Options) -> str:
    return options.key or HASH_KEY


def label_values(column: pd.Series, rule: str) -> pd.Series:
    """1 where the column satisfies the rule, else 0 (missing values are handled before)."""
    op, value = parse_rule(rule)
    if op in ("in", "not in"):
        inside = column.isin(list(value))
        return (inside if op == "in" else ~inside).astype("int8")
    try:
        return OPERATORS[op](column, value).astype("int8")
    except TypeError as error:
        raise DataError(f"label rule {rule!r} cannot compare {column.name!r}: {error}") from None


def build_context(tables: dict[str, pd.DataFrame]) -> None:
    """The table starter has no reference tables to join."""
    return None


def enrich(rows: pd.DataFrame, context: None, options: Options) -> pd.DataFrame:
    """Rows (historical or requested) with their key; the label's column and outcomes
    dropped."""
    frame = rows.copy()
    if not options.key:
        frame[HASH_KEY] = row_hash(frame, options.serving_fields())
    hidden = [c for c in (options.label.column, *options.outcomes) if c in frame.columns]
    return frame.drop(columns=hidden)


def prepare(
    tables: dict[str, pd.DataFrame], options: Options
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The modelling frame and counts of what was dropped (unlabelled rows, repeated
    keys, rows without a time)."""
    table = tables[options.table_name]
    needed = [options.label.column, *options.serving_fields(), *options.outcomes]
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        raise DataError(
            f"the table lacks columns named in params.yaml domain.options: {missing}; "
            f"it has {list(table.columns)}"
        )
    labelled = table.loc[table[options.label.column].notna() & table[options.time].notna()]
    labelled = labelled.assign(
        **{options.label.name: label_values(labelled[options.label.column], options.label.rule)}
    )
    frame = enrich(labelled, None, options)
    key = key_column(options)
    unique = frame.drop_duplicates(key, keep="first").reset_index(drop=True)
    counts = {
        "rows": len(table),
        "unlabelled": len(table) - len(labelled),
        "repeated_keys": len(frame) - len(unique),
        "kept": len(unique),
    }
    return unique, counts
