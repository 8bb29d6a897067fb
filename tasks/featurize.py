"""featurize: prepared rows in, one feature table out (features, label, key, split,
slice columns). The feature functions are the ones serving will call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlpipe.config import SplitParams
from mlpipe.context import StageContext
from mlpipe.errors import DataError
from mlpipe.features import FeatureCost, FeatureRegistry
from mlpipe.io import write_json, write_parquet
from mlpipe.validation import require_passed

SPLIT = "split"


def assign_split(values: pd.Series, split: SplitParams) -> pd.Series:
    """Name of the time window each row falls in; missing outside every window."""
    names = np.full(len(values), None, dtype=object)
    for name, (first, last) in split.named_ranges().items():
        names[(values >= first).to_numpy() & (values <= last).to_numpy()] = name
    return pd.Series(names, index=values.index, name=SPLIT)


def build_feature_table(
    base: pd.DataFrame,
    registry: FeatureRegistry,
    feature_names: list[str],
    passthrough: list[str],
    split: SplitParams,
) -> tuple[pd.DataFrame, dict[str, FeatureCost]]:
    """Features plus the columns later stages need; rows outside every split are dropped."""
    features, costs = registry.compute(base, feature_names)
    kept = [column for column in passthrough if column not in features.columns]
    table = pd.concat([base[kept], assign_split(base[split.column], split), features], axis=1)
    return table.loc[table[SPLIT].notna()].reset_index(drop=True), costs


def run(ctx: StageContext) -> dict[str, Any]:
    require_passed(ctx.paths.reports / "validation" / "raw.json")
    domain, params = ctx.domain, ctx.params
    tables = ctx.raw_tables()
    base, counts = domain.prepare(tables, ctx.options)
    if base.empty:
        raise DataError(
            f"no labelled rows left after preparation ({counts}): is the label column empty?"
        )
    passthrough = [domain.KEY, domain.LABEL, params.split.column, *params.evaluate.slices]
    missing = [column for column in passthrough if column not in base.columns]
    if missing:
        raise DataError(f"prepared data lacks columns named in params.yaml: {missing}")
    table, costs = build_feature_table(
        base, domain.features, params.features, list(dict.fromkeys(passthrough)), params.split
    )
    write_parquet(ctx.paths.features, table)
    per_split = table[SPLIT].value_counts().reindex(params.split.named_ranges()).fillna(0)
    summary = {
        **counts,
        "rows": len(table),
        "rows_per_split": {name: int(n) for name, n in per_split.items()},
        "label_rate": round(float(table[domain.LABEL].mean()), 6),
        "features": params.features,
    }
    write_json(ctx.paths.reports / "featurize.json", summary)
    write_json(
        ctx.paths.reports / "feature_costs.json",
        {name: {"seconds": round(c.seconds, 6), "bytes": c.bytes} for name, c in costs.items()},
    )
    return summary
