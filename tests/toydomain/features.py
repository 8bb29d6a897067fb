"""Feature functions of the toy domain."""

from __future__ import annotations

import pandas as pd

from mlpipe import FeatureRegistry

registry = FeatureRegistry()


@registry.numeric
def minutes(frame: pd.DataFrame) -> pd.Series:
    """Minutes on the site."""
    return frame["minutes"]


@registry.numeric
def pages(frame: pd.DataFrame) -> pd.Series:
    """Pages viewed."""
    return frame["pages"]


@registry.numeric
def store_size(frame: pd.DataFrame) -> pd.Series:
    """Floor area of the store (joined from the stores table)."""
    return frame["store_size"]


@registry.categorical
def region(frame: pd.DataFrame) -> pd.Series:
    """Region of the visit."""
    return frame["region"]
