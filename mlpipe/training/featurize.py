"""Prepared rows in, one feature table out (features, label, key, time, split, slices).
The feature functions are the ones serving calls; they never see the label, outcome or
identifier columns (the domain's declared policy, checklist D4), and each one's cost is
held to params.yaml's feature_budget (checklist D3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.errors import DataError
from mlpipe.core.features import FeatureCost, FeatureRegistry
from mlpipe.core.params import FeatureBudget, SplitParams
from mlpipe.core.project import SPLIT


def assign_split(values: pd.Series, split: SplitParams) -> pd.Series:
    """Name of the time window each row falls in; missing outside every window."""
    positions = split.axis.positions(values)
    names = np.full(len(values), None, dtype=object)
    for name, window in split.windows().items():
        names[window.contains(positions, split.axis).to_numpy()] = name
    return pd.Series(names, index=values.index, name=SPLIT)


def compute_features(
    frame: pd.DataFrame, registry: FeatureRegistry, names: list[str], hidden: Iterable[str]
) -> tuple[pd.DataFrame, dict[str, FeatureCost]]:
    """The named features of ``frame`` without the ``hidden`` columns: a feature reading
    one of them fails, naming the feature and the column."""
    hidden = set(hidden)
    visible = frame.drop(columns=[c for c in frame.columns if c in hidden])
    parts, costs = [], {}
    for name in names:
        try:
            part, cost = registry.compute(visible, [name])
        except KeyError as error:
            column = error.args[0] if error.args else "?"
            if column in hidden:
                raise DataError(
                    f"feature {name!r} reads {column!r}, the label, an outcome or an "
                    "identifier of the domain: features never receive those columns"
                ) from None
            raise DataError(
                f"feature {name!r} reads {column!r}, not in the prepared rows"
            ) from None
        parts.append(part)
        costs.update(cost)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index), costs


def build_feature_table(
    base: pd.DataFrame,
    registry: FeatureRegistry,
    feature_names: list[str],
    passthrough: list[str],
    split: SplitParams,
    time_column: str,
    hidden: Iterable[str] = (),
) -> tuple[pd.DataFrame, dict[str, FeatureCost]]:
    """Features plus the columns later stages need; rows outside every window are dropped."""
    features, costs = compute_features(base, registry, feature_names, hidden)
    kept = [column for column in passthrough if column not in features.columns]
    table = pd.concat([base[kept], assign_split(base[time_column], split), features], axis=1)
    return table.loc[table[SPLIT].notna()].reset_index(drop=True), costs


def feature_costs(
    costs: dict[str, FeatureCost], rows: int, budget: FeatureBudget
) -> dict[str, dict[str, Any]]:
    """Each feature's measured cost, scaled per 100k rows and per row, beside its limit."""
    report = {}
    for name, cost in costs.items():
        limit = budget.limit(name)
        per_100k = cost.seconds * 100_000 / max(rows, 1)
        per_row = cost.bytes / max(rows, 1)
        over = [
            f"{value:.3g} {unit} > {bound:g}"
            for value, bound, unit in (
                (per_100k, limit.seconds_per_100k_rows, "s per 100k rows"),
                (per_row, limit.bytes_per_row, "bytes per row"),
            )
            if bound is not None and value > bound
        ]
        report[name] = {
            "seconds": round(cost.seconds, 6),
            "bytes": cost.bytes,
            "seconds_per_100k_rows": round(per_100k, 6),
            "bytes_per_row": round(per_row, 3),
            "budget": limit.model_dump(),
            "over_budget": over,
        }
    return report
