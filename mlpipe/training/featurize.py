"""Prepared rows in, one feature table out (features, label, key, time, split, slices).
The feature functions are the ones serving calls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpipe.core.features import FeatureCost, FeatureRegistry
from mlpipe.core.params import SplitParams
from mlpipe.core.project import SPLIT


def assign_split(values: pd.Series, split: SplitParams) -> pd.Series:
    """Name of the time window each row falls in; missing outside every window."""
    positions = split.axis.positions(values)
    names = np.full(len(values), None, dtype=object)
    for name, window in split.windows().items():
        names[window.contains(positions, split.axis).to_numpy()] = name
    return pd.Series(names, index=values.index, name=SPLIT)


def build_feature_table(
    base: pd.DataFrame,
    registry: FeatureRegistry,
    feature_names: list[str],
    passthrough: list[str],
    split: SplitParams,
    time_column: str,
) -> tuple[pd.DataFrame, dict[str, FeatureCost]]:
    """Features plus the columns later stages need; rows outside every window are dropped."""
    features, costs = registry.compute(base, feature_names)
    kept = [column for column in passthrough if column not in features.columns]
    table = pd.concat([base[kept], assign_split(base[time_column], split), features], axis=1)
    return table.loc[table[SPLIT].notna()].reset_index(drop=True), costs
