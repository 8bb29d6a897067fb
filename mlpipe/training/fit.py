"""Fitting a model spec on a window of the feature table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpipe.core.errors import DataError


def fit(model: Any, frame: pd.DataFrame, features: list[str], label: str) -> Any:
    if frame.empty:
        raise DataError("the training window has no rows: check split.train in params.yaml")
    if frame[label].nunique() < 2:
        raise DataError(f"the training window has a single class of {label!r}: nothing to learn")
    return model.fit(frame[features], frame[label].to_numpy())


def predict(model: Any, frame: pd.DataFrame, features: list[str]) -> Any:
    """Probability of the positive class."""
    return model.predict_proba(frame[features])[:, 1]
