"""Custom features of your table: each takes the prepared frame (the table's columns,
see ``prepare.py``) and returns one column. The columns listed under ``numeric`` and
``categorical`` in params.yaml are features already, with nothing to write here.

EDIT HERE: add a feature as one decorated function (``@registry.numeric`` or
``@registry.categorical``), then list its name under ``features:`` in params.yaml. The
columns it reads must be request fields (declared features, or ``fields`` in params.yaml).
For example::

    @registry.numeric
    def bill_ratio(frame: pd.DataFrame) -> pd.Series:
        "Bill length over bill depth."
        return frame["bill_length_mm"] / frame["bill_depth_mm"]
"""

from __future__ import annotations

from mlpipe import FeatureRegistry

registry = FeatureRegistry()
