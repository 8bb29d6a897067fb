"""Drift scores, their noise floor, and the Evidently report (checklist Mo2/Mo3).

Scores use fixed methods (Evidently's definitions): the Wasserstein distance normed by
the reference's standard deviation for numbers, the Jensen-Shannon distance of value
shares for categories. Both are computed here with SciPy (fast enough to resample), and
Evidently renders the same scores and thresholds as its HTML report.

Calibration: a distance between two finite samples is never zero. Drawn from the same
distribution, a window of n rows scores about c/sqrt(n) (about 0.1 for a few hundred
rows), so a fixed threshold fires on in-distribution traffic. Each column's threshold is
therefore the larger of the configured floor and ``margin`` times its noise floor:

- the ``quantile`` of the scores of ``draws`` bootstrap samples of the window's size taken
  from the reference itself (sampling noise at this window's size), scaled by
  sqrt(1 + n/N) because the reference (N rows) is a sample too;
- the score of the pipeline's own held-out windows (validation, test) against the
  reference: how much a normal later period differs (time variation, and for the
  prediction the gap between in-sample and out-of-sample scores).

Real drift scores far above both; clean traffic stays under them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_METHOD = "wasserstein"
CATEGORICAL_METHOD = "jensenshannon"


def _numeric_values(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numbers[np.isfinite(numbers)]


def numeric_score(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance in units of the reference's standard deviation."""
    from scipy.stats import wasserstein_distance

    if not len(reference) or not len(current):
        return float("nan")
    norm = max(float(np.std(reference)), 0.001)
    return float(wasserstein_distance(reference, current) / norm)


def categorical_score(reference: pd.Series, current: pd.Series) -> float:
    """Jensen-Shannon distance between the shares of each value."""
    from scipy.spatial.distance import jensenshannon

    reference, current = reference.dropna().astype(str), current.dropna().astype(str)
    if reference.empty or current.empty:
        return float("nan")
    values = sorted(set(reference) | set(current))
    p = reference.value_counts(normalize=True).reindex(values, fill_value=0.0)
    q = current.value_counts(normalize=True).reindex(values, fill_value=0.0)
    return float(jensenshannon(p.to_numpy(), q.to_numpy()))


def score(reference: pd.Series, current: pd.Series, kind: str) -> float:
    if kind == "numeric":
        return numeric_score(_numeric_values(reference), _numeric_values(current))
    return categorical_score(reference, current)


def noise_floor(
    reference: pd.Series, n: int, kind: str, draws: int, quantile: float, seed: int = 0
) -> float:
    """The ``quantile`` of the scores of same-size samples of the reference against itself,
    widened for the reference's own sampling noise."""
    from scipy.spatial.distance import jensenshannon

    if n <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        values = _numeric_values(reference)
        if not len(values):
            return float("nan")
        size = min(n, len(values))
        scores = [numeric_score(values, rng.choice(values, size)) for _ in range(draws)]
    else:
        values, _ = pd.factorize(reference.dropna().astype(str))
        if not len(values):
            return float("nan")
        size = min(n, len(values))
        shares = np.bincount(values)
        scores = [
            float(
                jensenshannon(shares, np.bincount(rng.choice(values, size), minlength=len(shares)))
            )
            for _ in range(draws)
        ]
    return float(np.nanquantile(scores, quantile) * np.sqrt(1 + size / len(values)))


@dataclass(frozen=True)
class Calibration:
    """How column thresholds are set: configured floor, noise resampling, margin."""

    floor: float
    draws: int = 100
    quantile: float = 0.99
    margin: float = 1.2


def drift_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    calibration: Calibration,
    held_out: pd.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:
    """Per column: method, score, noise floor, calibrated threshold, drifted."""
    scores: dict[str, dict[str, Any]] = {}
    for column, kind in kinds.items():
        value = score(reference[column], current[column], kind)
        size = int(current[column].notna().sum())
        noise = noise_floor(reference[column], size, kind, calibration.draws, calibration.quantile)
        later = (
            score(reference[column], held_out[column], kind)
            if held_out is not None and len(held_out)
            else float("nan")
        )
        floor = float(np.nanmax([noise, later, 0.0]))
        threshold = max(calibration.floor, calibration.margin * floor)
        scores[column] = {
            "method": NUMERIC_METHOD if kind == "numeric" else CATEGORICAL_METHOD,
            "score": round(value, 6),
            "noise_floor": round(noise, 6),
            "held_out_score": None if np.isnan(later) else round(later, 6),
            "threshold": round(threshold, 6),
            "drifted": bool(value >= threshold),
        }
    return scores


def evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    thresholds: dict[str, float],
    path: Path,
) -> dict[str, float]:
    """Evidently's HTML report of the same methods and thresholds; returns its scores."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k != "numeric"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = [*numeric, *categorical]
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                num_method=NUMERIC_METHOD,
                cat_method=CATEGORICAL_METHOD,
                per_column_threshold=thresholds,
            )
        ]
    )
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return {
        metric["config"]["column"]: float(metric["value"])
        for metric in snapshot.dict()["metrics"]
        if metric.get("config", {}).get("type", "").endswith("ValueDrift")
    }
