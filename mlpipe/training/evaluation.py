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


def permuted_copies(
    frame: pd.DataFrame, features: list[str], repeats: int, seed: int
) -> list[pd.DataFrame]:
    """``frame`` with each feature shuffled ``repeats`` times, feature by feature, exactly
    as scikit-learn's ``permutation_importance`` shuffles them (one seed drawn from
    ``seed``; per feature a fresh generator from it; each repeat shuffles the previous
    repeat's column again), so the importances are the same numbers."""
    drawn = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    copies = []
    for name in features:
        generator = np.random.RandomState(drawn)
        order = np.arange(len(frame))
        column = frame[name].to_numpy()
        for _ in range(repeats):
            generator.shuffle(order)
            column = column[order]
            copies.append(frame.assign(**{name: column}))
    return copies


def feature_importance(
    model: Any, frame: pd.DataFrame, features: list[str], label: str, params: EvaluateParams
) -> dict[str, dict[str, float]]:
    """Permutation importance (drop in ROC AUC, on the finite predictions) on a fixed
    sample: which features help. Every permuted copy is scored in one prediction (rows
    are predicted independently), not one prediction per copy."""
    sample = frame.sample(n=min(params.importance_sample, len(frame)), random_state=params.seed)
    y = sample[label].to_numpy()
    rows = sample[features].reset_index(drop=True)
    copies = permuted_copies(rows, features, params.importance_repeats, params.seed)
    proba = predict(model, pd.concat([rows, *copies], ignore_index=True), features)
    scores = np.array([auc(y, part) for part in np.split(proba, len(copies) + 1)])
    drops = (scores[0] - scores[1:]).reshape(len(features), params.importance_repeats)
    return {
        name: {
            "mean": round(float(mean), 6),
            "std": round(float(std), 6),
            "helps": helps(float(mean), float(std)),
        }
        for name, mean, std in zip(features, drops.mean(axis=1), drops.std(axis=1), strict=True)
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
