"""Binary-classification metrics, overall and per slice. Pure functions on arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def f1_optimal_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut that maximises F1 (chosen on validation data, never on test),
    on the finite predictions."""
    finite = np.isfinite(np.asarray(proba, dtype=float))
    precision, recall, thresholds = precision_recall_curve(
        np.asarray(y_true)[finite], np.asarray(proba)[finite]
    )
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(thresholds[best]) if len(thresholds) else 0.5


def _safe(metric: Any, *args: Any, **kwargs: Any) -> float:
    """NaN where a metric is undefined (e.g. AUC on a slice with one class)."""
    try:
        return float(metric(*args, **kwargs))
    except ValueError:
        return math.nan


def binary_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics on the finite predictions; NaN or inf ones are counted, not scored, so a
    broken model reaches the gate's own check instead of crashing evaluation."""
    proba = np.asarray(proba, dtype=float)
    finite = np.isfinite(proba)
    n = len(proba)
    y_true, proba = np.asarray(y_true).astype(int)[finite], proba[finite]
    decision = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "n": n,
        "positive_rate": float(y_true.mean()) if len(y_true) else math.nan,
        "roc_auc": _safe(roc_auc_score, y_true, proba) if both_classes else math.nan,
        "pr_auc": _safe(average_precision_score, y_true, proba) if both_classes else math.nan,
        "log_loss": _safe(log_loss, y_true, proba, labels=[0, 1]),
        "brier": _safe(brier_score_loss, y_true, proba),
        "accuracy": _safe(accuracy_score, y_true, decision),
        "f1": _safe(f1_score, y_true, decision, zero_division=0),
        "precision": _safe(precision_score, y_true, decision, zero_division=0),
        "recall": _safe(recall_score, y_true, decision, zero_division=0),
        "nonfinite_predictions": int((~finite).sum()),
    }


def slice_metrics(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    slices: list[str],
    min_size: int,
) -> list[dict[str, Any]]:
    """One row per (slice column, value); ``gated`` is False below ``min_size`` rows."""
    rows = []
    y_true, proba = np.asarray(y_true), np.asarray(proba)
    for column in slices:
        values = frame[column].to_numpy()
        for value in sorted(pd.unique(values), key=str):
            mask = values == value
            rows.append(
                {
                    "slice": column,
                    "value": value.item() if hasattr(value, "item") else value,
                    "gated": bool(mask.sum() >= min_size),
                    **binary_metrics(y_true[mask], proba[mask], threshold),
                }
            )
    return rows


def rounded(metrics: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """Stable JSON: fixed precision, NaN as null."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, float):
            out[key] = None if math.isnan(value) else round(value, digits)
        else:
            out[key] = value
    return out


def auc(labels: Any, scores: Any) -> float:
    """ROC AUC, or NaN where it is undefined (one class, or nothing scored)."""
    labels = pd.Series(labels).astype(float)
    scores = pd.Series(scores, index=labels.index).astype(float)
    known = labels.notna() & np.isfinite(scores)
    if labels[known].nunique() < 2:
        return math.nan
    return float(roc_auc_score(labels[known].astype(int), scores[known]))
