"""Scoring the candidate and the baseline on the test window, overall and per slice; the
decision threshold from the validation window; permutation importance (checklist D2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.errors import DataError
from mlpipe.core.metrics import (
    auc,
    binary_metrics,
    f1_optimal_threshold,
    rounded,
    slice_metrics,
)
from mlpipe.core.params import EvaluateParams
from mlpipe.core.project import SPLIT
from mlpipe.training.fit import predict


def choose_threshold(how: str | float, y_valid: np.ndarray, p_valid: np.ndarray) -> float:
    return f1_optimal_threshold(y_valid, p_valid) if how == "f1" else float(how)


@dataclass
class Evaluation:
    threshold: float
    model: dict[str, Any]
    baseline: dict[str, Any]
    valid: dict[str, Any] | None
    slices: list[dict[str, Any]]
    importance: dict[str, dict[str, float]]
    y_test: np.ndarray
    p_model: np.ndarray
    p_baseline: np.ndarray


def helps(mean: float, std: float) -> bool:
    """A feature helps when its importance is above zero by more than its spread across
    repeats (checklist D2); the gate checks the same margin."""
    return mean - std > 0


def _roc_auc(model: Any, frame: pd.DataFrame, y: Any) -> float:
    """Scorer on the finite predictions (NaN ones are the gate's to report)."""
    return auc(np.asarray(y), model.predict_proba(frame)[:, 1])


def feature_importance(
    model: Any, frame: pd.DataFrame, features: list[str], label: str, params: EvaluateParams
) -> dict[str, dict[str, float]]:
    """Permutation importance (drop in ROC AUC) on a fixed sample: which features help."""
    from sklearn.inspection import permutation_importance

    sample = frame.sample(n=min(params.importance_sample, len(frame)), random_state=params.seed)
    result = permutation_importance(
        model,
        sample[features],
        sample[label],
        scoring=_roc_auc,
        n_repeats=params.importance_repeats,
        random_state=params.seed,
        n_jobs=1,
    )
    return {
        name: {
            "mean": round(float(mean), 6),
            "std": round(float(std), 6),
            "helps": helps(float(mean), float(std)),
        }
        for name, mean, std in zip(
            features, result.importances_mean, result.importances_std, strict=True
        )
    }


def evaluate(
    model: Any,
    baseline: Any,
    table: pd.DataFrame,
    features: list[str],
    baseline_features: list[str],
    label: str,
    slices: list[str],
    params: EvaluateParams,
) -> Evaluation:
    valid = table.loc[table[SPLIT] == "valid"]
    test = table.loc[table[SPLIT] == "test"]
    windows = [("test", test)] + ([("valid", valid)] if params.threshold == "f1" else [])
    for name, part in windows:
        if part[label].nunique() < 2:
            raise DataError(f"the {name} window needs both classes of {label!r} to evaluate")
    valid_metrics = None
    if len(valid):
        p_valid = predict(model, valid, features)
        threshold = choose_threshold(params.threshold, valid[label].to_numpy(), p_valid)
        valid_metrics = rounded(binary_metrics(valid[label].to_numpy(), p_valid, threshold))
    else:
        threshold = float(params.threshold)
    y_test = test[label].to_numpy()
    p_model = predict(model, test, features)
    p_baseline = predict(baseline, test, baseline_features)
    return Evaluation(
        threshold=threshold,
        model=rounded(binary_metrics(y_test, p_model, threshold)),
        baseline=rounded(binary_metrics(y_test, p_baseline, threshold)),
        valid=valid_metrics,
        slices=[
            rounded(row)
            for row in slice_metrics(
                test, y_test, p_model, threshold, slices, params.min_slice_size
            )
        ],
        importance=feature_importance(model, test, features, label, params),
        y_test=y_test,
        p_model=p_model,
        p_baseline=p_baseline,
    )
