"""How fast does a model go stale? (checklist M4). Train the model spec on successive
windows (time up to each declared end), score every later period up to the end of the
test window; quality against model age gives the curve and the maximum allowed age."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mlpipe.core.metrics import auc
from mlpipe.training.fit import fit, predict


def staleness_curve(
    table: pd.DataFrame,
    positions: pd.Series,
    features: list[str],
    label: str,
    train_ends: list[float],
    last: float,
    build: Callable[[], Any],
) -> pd.DataFrame:
    """One row per (training end, scored period): age in periods and ROC AUC. Each model
    scores all its later periods in one prediction (rows are predicted independently)."""
    rows = []
    for end in train_ends:
        model = fit(build(), table.loc[positions <= end], features, label)
        later = (positions > end) & (positions <= last)
        if not later.any():
            continue
        proba = pd.Series(predict(model, table.loc[later], features), index=table.index[later])
        for period in sorted(p for p in positions.unique() if end < p <= last):
            scored = table.loc[positions == period]
            quality = auc(scored[label], proba.loc[scored.index].to_numpy())
            if quality != quality:  # one class only: undefined
                continue
            rows.append(
                {
                    "train_end": end,
                    "period": period,
                    "age": period - end,
                    "rows": len(scored),
                    "roc_auc": round(quality, 6),
                }
            )
    return pd.DataFrame(rows)


def max_allowed_age(curve: pd.DataFrame, tolerance: float) -> float:
    """Largest age whose mean ROC AUC is within ``tolerance`` of the youngest age's."""
    by_age = curve.groupby("age")["roc_auc"].mean().sort_index()
    floor = by_age.iloc[0] - tolerance
    allowed = by_age.index[0]
    for age, quality in by_age.items():
        if quality < floor:
            break
        allowed = age
    return float(allowed)
