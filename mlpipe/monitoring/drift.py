"""Thin adapter over Evidently (0.7): per-column drift scores and an HTML report.

Methods are fixed (Wasserstein distance for numbers, Jensen-Shannon for categories) so a
score means the same thing whatever the sample size; a column drifts when its score
reaches the threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def drift_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    threshold: float,
    html: Path | None = None,
) -> dict[str, dict[str, Any]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = [*numeric, *categorical]
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                num_method="wasserstein",
                cat_method="jensenshannon",
                threshold=threshold,
            )
        ]
    )
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
    scores: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value = float(metric["value"])
            scores[config["column"]] = {
                "method": config.get("method"),
                "score": round(value, 6),
                "threshold": threshold,
                "drifted": value >= threshold,
            }
    return scores
