"""Metrics, thresholds, slices and time splits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.metrics import binary_metrics, f1_optimal_threshold, rounded, slice_metrics
from mlpipe.core.params import SplitParams
from mlpipe.training.featurize import assign_split


def test_perfect_scores():
    y = np.array([0, 0, 1, 1])
    m = binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), 0.5)
    assert m["roc_auc"] == 1.0 and m["accuracy"] == 1.0 and m["f1"] == 1.0
    assert m["nonfinite_predictions"] == 0


def test_single_class_slice_has_undefined_auc_not_an_error():
    m = binary_metrics(np.array([1, 1]), np.array([0.4, 0.9]), 0.5)
    assert math.isnan(m["roc_auc"]) and m["accuracy"] == 0.5
    assert rounded(m)["roc_auc"] is None


def test_nonfinite_predictions_are_counted():
    m = binary_metrics(np.array([0, 1, 1]), np.array([0.2, np.nan, np.inf]), 0.5)
    assert m["nonfinite_predictions"] == 2


def test_metrics_are_computed_on_the_finite_predictions():
    """A model answering NaN for some rows must reach the gate's own check, not crash
    evaluation ("Input contains NaN")."""
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9, np.nan, -np.inf])
    m = binary_metrics(y, p, 0.5)
    assert m["n"] == 6 and m["nonfinite_predictions"] == 2
    assert m["roc_auc"] == 1.0 and m["accuracy"] == 1.0 and m["log_loss"] < 0.3
    assert 0.2 < f1_optimal_threshold(y, p) <= 0.8
    rows = slice_metrics(pd.DataFrame({"region": ["north"] * 6}), y, p, 0.5, ["region"], 1)
    assert rows[0]["nonfinite_predictions"] == 2 and rows[0]["roc_auc"] == 1.0
    everything_nan = binary_metrics(y, np.full(6, np.nan), 0.5)
    assert everything_nan["nonfinite_predictions"] == 6 and math.isnan(everything_nan["roc_auc"])


def test_f1_threshold_separates_the_classes():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7])
    threshold = f1_optimal_threshold(y, p)
    assert 0.3 < threshold <= 0.6


def test_slices_are_gated_only_above_min_size():
    frame = pd.DataFrame({"region": ["north"] * 4 + ["south"] * 2})
    y = np.array([0, 1, 0, 1, 0, 1])
    p = np.array([0.2, 0.8, 0.3, 0.7, 0.6, 0.4])
    rows = slice_metrics(frame, y, p, 0.5, ["region"], min_size=3)
    by_value = {row["value"]: row for row in rows}
    assert by_value["north"]["gated"] and not by_value["south"]["gated"]
    assert by_value["north"]["roc_auc"] == 1.0 and by_value["south"]["roc_auc"] == 0.0


def test_time_split_assigns_windows_and_leaves_gaps_missing():
    split = SplitParams(column="week", train=(1, 8), valid=(9, 9), test=(10, 10), holdout=(12, 12))
    names = assign_split(pd.Series([1, 8, 9, 10, 11, 12]), split)
    assert names.tolist() == ["train", "train", "valid", "test", None, "holdout"]


def test_overlapping_windows_are_rejected():
    with pytest.raises(ValueError, match="overlap"):
        SplitParams(column="week", train=(1, 9), valid=(9, 9), test=(10, 10))
