"""Hyperparameter search (checklist M3), as pure functions: which points of the space to
try, one trial (fit on the training window, score on the validation window: time order
kept, never random folds), and where params.yaml's model values came from."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from mlpipe.core.metrics import auc
from mlpipe.training.fit import fit, predict


def sample_trials(space: dict[str, list[Any]], trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct points of the grid, in a seeded random order."""
    grid: list[dict[str, Any]] = [{}]
    for name in sorted(space):
        grid = [{**point, name: value} for point in grid for value in space[name]]
    random.Random(seed).shuffle(grid)
    return grid[:trials]


def longest_first(trials: list[dict[str, Any]], last: dict[str, Any] | None) -> list[int]:
    """Indices of ``trials``, the ones the last search (its reports/tuning.json) measured
    as slowest first, then the ones it did not try, in their sampled order."""
    seconds = {
        json.dumps(trial["params"], sort_keys=True): trial.get("seconds", 0.0)
        for trial in (last or {}).get("trials", [])
    }
    return sorted(
        range(len(trials)),
        key=lambda i: -seconds.get(json.dumps(trials[i], sort_keys=True), -1.0),
    )


def search_id(space: dict[str, list[Any]], trials: int, seed: int, data: str) -> str:
    """A stable id of one search: its space, size, seed and the data it was scored on."""
    spec = json.dumps(
        {"space": space, "trials": trials, "seed": seed, "data": data}, sort_keys=True
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def run_trial(
    build: Callable[[], Any],
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    label: str,
) -> dict[str, float]:
    """Fit on ``train``, score ROC AUC on ``valid``."""
    start = time.perf_counter()
    model = fit(build(), train, features, label)
    quality = auc(valid[label].to_numpy(), predict(model, valid, features))
    return {"seconds": round(time.perf_counter() - start, 3), "valid_roc_auc": round(quality, 6)}


def tuning_tags(report: dict[str, Any] | None, model_params: dict[str, Any]) -> dict[str, str]:
    """Lineage of the model's params: the search and time they were applied from, when
    params.yaml's model section still holds the applied values."""
    applied = (report or {}).get("applied")
    if not applied or any(model_params.get(k) != v for k, v in applied["values"].items()):
        return {"tuning.applied": "false"}
    return {
        "tuning.applied": "true",
        "tuning.search_id": str(applied["search_id"]),
        "tuning.applied_at": str(applied["at"]),
    }
