"""The quality gate (checklist I4, M5, M6, M7), as pure functions.

The evaluation results become one metrics table (one row per metric per scope: overall,
each slice, each group gap) holding the candidate's, the baseline's and the champion's
values. A Great Expectations suite generated from configs/gate.yaml then validates that
table: each check is one expectation restricted to the rows it is about."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlpipe.core.configs import HIGHER_IS_BETTER, GateConfig


def _better_by(metric: str, candidate: float | None, other: float | None) -> float | None:
    """How much better the candidate is (positive = better), whatever the metric's direction."""
    if candidate is None or other is None or math.isnan(candidate) or math.isnan(other):
        return None
    return candidate - other if HIGHER_IS_BETTER[metric] else other - candidate


def _value(metrics: dict[str, Any] | None, name: str) -> float | None:
    if not metrics:
        return None
    value = metrics.get(name)
    return None if value is None else float(value)


def metrics_table(
    config: GateConfig,
    candidate: dict[str, Any],
    baseline: dict[str, Any],
    champion: dict[str, Any] | None,
    candidate_slices: list[dict[str, Any]],
    champion_slices: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per metric per scope, with candidate, baseline and champion values and the
    candidate's direction-adjusted lead over each."""
    rows: list[dict[str, Any]] = []
    for metric in sorted(config.metrics()):
        c, b, h = _value(candidate, metric), _value(baseline, metric), _value(champion, metric)
        rows.append(
            {
                "row_id": f"overall/{metric}",
                "scope": "overall",
                "metric": metric,
                "n": candidate.get("n"),
                "gated": True,
                "candidate": c,
                "baseline": b,
                "champion": h,
                "lead_over_baseline": _better_by(metric, c, b),
                "lead_over_champion": _better_by(metric, c, h),
            }
        )
    rows.append(
        {
            "row_id": "overall/nonfinite_predictions",
            "scope": "overall",
            "metric": "nonfinite_predictions",
            "n": candidate.get("n"),
            "gated": True,
            "candidate": float(candidate.get("nonfinite_predictions", 0)),
        }
    )
    champion_by_slice = {(row["slice"], str(row["value"])): row for row in (champion_slices or [])}
    metric = config.slices.metric
    for row in candidate_slices:
        key = (row["slice"], str(row["value"]))
        c, h = _value(row, metric), _value(champion_by_slice.get(key), metric)
        rows.append(
            {
                "row_id": f"slice/{key[0]}={key[1]}/{metric}",
                "scope": "slice",
                "metric": metric,
                "n": row["n"],
                "gated": bool(row["gated"]),
                "candidate": c,
                "champion": h,
                "lead_over_champion": _better_by(metric, c, h),
            }
        )
    metric = config.inclusion.metric
    for group in config.inclusion.groups:
        values = [
            _value(row, metric)
            for row in candidate_slices
            if row["slice"] == group and row["gated"] and _value(row, metric) is not None
        ]
        rows.append(
            {
                "row_id": f"gap/{group}/{metric}",
                "scope": "gap",
                "metric": metric,
                "n": len(values),
                "gated": True,
                "candidate": (max(values) - min(values)) if len(values) >= 2 else 0.0,
            }
        )
    columns = [
        "row_id",
        "scope",
        "metric",
        "n",
        "gated",
        "candidate",
        "baseline",
        "champion",
        "lead_over_baseline",
        "lead_over_champion",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


def _between(
    check: str, column: str, where: dict[str, Any], low: float | None, high: float | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"column": column}
    if low is not None:
        kwargs["min_value"] = low
    if high is not None:
        kwargs["max_value"] = high
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": kwargs,
        "where": where,
        "meta": {"check": check},
    }


def gate_suite(config: GateConfig, has_champion: bool) -> dict[str, Any]:
    """The GX suite for the metrics table, generated from configs/gate.yaml."""
    expectations = [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "candidate"},
            "where": {"scope": "overall"},
            "meta": {"check": "candidate metrics are defined"},
        },
    ]
    for metric, bound in sorted(config.floors.items()):
        low, high = (bound, None) if HIGHER_IS_BETTER[metric] else (None, bound)
        expectations.append(
            _between(
                f"{metric} floor", "candidate", {"scope": "overall", "metric": metric}, low, high
            )
        )
    expectations.append(
        _between(
            f"beats the baseline on {config.baseline.metric} by {config.baseline.min_margin}",
            "lead_over_baseline",
            {"scope": "overall", "metric": config.baseline.metric},
            config.baseline.min_margin,
            None,
        )
    )
    if has_champion:
        expectations.append(
            _between(
                f"not worse than the champion on {config.champion.metric} "
                f"by more than {config.champion.tolerance}",
                "lead_over_champion",
                {"scope": "overall", "metric": config.champion.metric},
                -config.champion.tolerance,
                None,
            )
        )
    expectations.append(
        _between(
            f"every slice's {config.slices.metric} at least {config.slices.floor}",
            "candidate",
            {"scope": "slice", "metric": config.slices.metric, "gated": True},
            config.slices.floor,
            None,
        )
    )
    if config.inclusion.groups:
        expectations.append(
            _between(
                f"{config.inclusion.metric} gap between groups at most {config.inclusion.max_gap}",
                "candidate",
                {"scope": "gap"},
                None,
                config.inclusion.max_gap,
            )
        )
    expectations.append(
        _between(
            "no NaN or inf predictions",
            "candidate",
            {"scope": "overall", "metric": "nonfinite_predictions"},
            None,
            config.max_nonfinite_predictions,
        )
    )
    return {"name": "quality_gate", "expectations": expectations}


def judge(config: GateConfig, table: pd.DataFrame, has_champion: bool) -> Any:
    """Validate the metrics table with the gate suite; a ValidationReport of every check."""
    from mlpipe.core.validation import validate_tables

    return validate_tables(
        "gate",
        {"metrics": table},
        {"metrics": gate_suite(config, has_champion)},
        id_column="row_id",
    )
