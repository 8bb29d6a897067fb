"""The quality gate (checklist D2, D4, I4, M5, M6, M7), as pure functions.

The evaluation results become one metrics table (one row per metric per scope: overall,
each slice, each group gap, each feature's importance, the leak alarm) holding the
candidate's, the baseline's and the champion's values. A Great Expectations suite
generated from configs/gate.yaml then validates that table: each check is one
expectation restricted to the rows it is about. Checks whose policy is ``warn`` are not
in the suite: they are listed in the verdict and the report, never fail the gate."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlpipe.core.configs import HIGHER_IS_BETTER, GateConfig

COLUMNS = [
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
    "detail",
]
SCOPES = ("overall", "slice", "gap", "features", "leak")
STATUS_CLASS = {
    "pass": "pass",
    "fail": "fail",
    "warn": "warn",
    "n/a": "skipped",
    "not gated": "skipped",
}
LEAK_HINT = (
    "the candidate looks like a leak (far better than the baseline or the champion, or one "
    "feature carries most of the importance): look for a column known only after the fact; "
    "register it only with --force --reason"
)


def _better_by(metric: str, candidate: float | None, other: float | None) -> float | None:
    """How much better the candidate is (positive = better), whatever the metric's direction."""
    if candidate is None or other is None or math.isnan(candidate) or math.isnan(other):
        return None
    return round(candidate - other if HIGHER_IS_BETTER[metric] else other - candidate, 6)


def _value(metrics: dict[str, Any] | None, name: str) -> float | None:
    if not metrics:
        return None
    value = metrics.get(name)
    return None if value is None else float(value)


def _overall_rows(
    config: GateConfig,
    candidate: dict[str, Any],
    baseline: dict[str, Any],
    champion: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    rows = []
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
    return rows


def _slice_rows(
    config: GateConfig,
    candidate_slices: list[dict[str, Any]],
    champion_slices: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    champion_by_slice = {(row["slice"], str(row["value"])): row for row in (champion_slices or [])}
    metric = config.slices.metric
    rows = []
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
                "detail": None if row["gated"] else "too few rows to gate",
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
    return rows


def _feature_rows(
    config: GateConfig, importance: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """One row per feature: its permutation importance less its spread across repeats."""
    rows = []
    for name, value in sorted(importance.items()):
        reason = config.features.accepted.get(name)
        detail = f"mean {value['mean']:.4f} ± std {value['std']:.4f}"
        rows.append(
            {
                "row_id": f"feature/{name}",
                "scope": "features",
                "metric": "importance_mean_minus_std",
                "gated": reason is None,
                "candidate": round(value["mean"] - value["std"], 6),
                "detail": detail + (f"; accepted: {reason}" if reason else ""),
            }
        )
    return rows


def _leak_rows(
    config: GateConfig, overall: list[dict[str, Any]], importance: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    metric = config.leak.metric
    headline = next(row for row in overall if row["metric"] == metric)
    rows = [
        {
            "row_id": f"leak/{lead}",
            "scope": "leak",
            "metric": lead,
            "gated": True,
            "candidate": headline[lead],
            "baseline": headline["baseline"],
            "champion": headline["champion"],
            "detail": f"{metric}: candidate {headline['candidate']}",
        }
        for lead in ("lead_over_baseline", "lead_over_champion")
    ]
    helpful = {name: v["mean"] for name, v in importance.items() if v["mean"] > 0}
    share, top = None, None
    if len(importance) >= 2 and helpful:
        top = max(helpful, key=lambda name: helpful[name])
        share = round(helpful[top] / sum(helpful.values()), 6)
    rows.append(
        {
            "row_id": "leak/importance_share",
            "scope": "leak",
            "metric": "importance_share",
            "gated": True,
            "candidate": share,
            "detail": f"top feature: {top}" if top else "fewer than two features",
        }
    )
    return rows


def metrics_table(
    config: GateConfig,
    candidate: dict[str, Any],
    baseline: dict[str, Any],
    champion: dict[str, Any] | None,
    candidate_slices: list[dict[str, Any]],
    champion_slices: list[dict[str, Any]] | None = None,
    importance: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    """One row per metric per scope, with candidate, baseline and champion values and the
    candidate's direction-adjusted lead over each."""
    overall = _overall_rows(config, candidate, baseline, champion)
    rows = [
        *overall,
        *_slice_rows(config, candidate_slices, champion_slices),
        *_feature_rows(config, importance or {}),
        *_leak_rows(config, overall, importance or {}),
    ]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _between(
    check: str,
    column: str,
    where: dict[str, Any],
    low: float | None,
    high: float | None,
    severity: str = "fail",
    strict: bool = False,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"column": column}
    if low is not None:
        kwargs["min_value"] = low
        if strict:
            kwargs["strict_min"] = True
    if high is not None:
        kwargs["max_value"] = high
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": kwargs,
        "where": where,
        "meta": {"check": check, "severity": severity},
    }


def gate_checks(config: GateConfig, has_champion: bool) -> list[dict[str, Any]]:
    """Every check of configs/gate.yaml as a GX expectation on the metrics table, with its
    severity (``fail`` or ``warn``)."""
    checks = [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "candidate"},
            "where": {"scope": "overall"},
            "meta": {"check": "candidate metrics are defined", "severity": "fail"},
        },
    ]
    for metric, bound in sorted(config.floors.items()):
        low, high = (bound, None) if HIGHER_IS_BETTER[metric] else (None, bound)
        checks.append(
            _between(
                f"{metric} floor", "candidate", {"scope": "overall", "metric": metric}, low, high
            )
        )
    checks.append(
        _between(
            f"beats the baseline on {config.baseline.metric} by {config.baseline.min_margin}",
            "lead_over_baseline",
            {"scope": "overall", "metric": config.baseline.metric},
            config.baseline.min_margin,
            None,
        )
    )
    if has_champion:
        checks.append(
            _between(
                f"not worse than the champion on {config.champion.metric} "
                f"by more than {config.champion.tolerance}",
                "lead_over_champion",
                {"scope": "overall", "metric": config.champion.metric},
                -config.champion.tolerance,
                None,
            )
        )
    checks.append(
        _between(
            f"every slice's {config.slices.metric} at least {config.slices.floor}",
            "candidate",
            {"scope": "slice", "metric": config.slices.metric, "gated": True},
            config.slices.floor,
            None,
        )
    )
    if config.inclusion.groups:
        checks.append(
            _between(
                f"{config.inclusion.metric} gap between groups at most {config.inclusion.max_gap}",
                "candidate",
                {"scope": "gap"},
                None,
                config.inclusion.max_gap,
            )
        )
    checks.append(
        _between(
            "no NaN or inf predictions",
            "candidate",
            {"scope": "overall", "metric": "nonfinite_predictions"},
            None,
            config.max_nonfinite_predictions,
        )
    )
    checks.append(
        _between(
            "every feature helps (permutation importance above zero by more than its std)",
            "candidate",
            {"scope": "features", "gated": True},
            0,
            None,
            severity=config.features.unhelpful,
            strict=True,
        )
    )
    leak = config.leak
    bounds = {
        "lead_over_baseline": (
            leak.max_lead_over_baseline,
            f"{leak.metric} lead over the baseline",
        ),
        "lead_over_champion": (
            leak.max_lead_over_champion,
            f"{leak.metric} lead over the champion",
        ),
        "importance_share": (leak.max_importance_share, "one feature's share of the importance"),
    }
    for metric, (bound, what) in bounds.items():
        if bound is not None and (has_champion or metric != "lead_over_champion"):
            checks.append(
                _between(
                    f"leak alarm: {what} at most {bound}",
                    "candidate",
                    {"scope": "leak", "metric": metric},
                    None,
                    bound,
                )
            )
    return checks


def gate_suite(config: GateConfig, has_champion: bool) -> dict[str, Any]:
    """The GX suite for the metrics table: the checks that fail the gate."""
    checks = gate_checks(config, has_champion)
    return {
        "name": "quality_gate",
        "expectations": [c for c in checks if c["meta"]["severity"] == "fail"],
    }


def judge(config: GateConfig, table: pd.DataFrame, has_champion: bool) -> Any:
    """Validate the metrics table with the gate suite; a ValidationReport of every check."""
    from mlpipe.core.validation import validate_tables

    return validate_tables(
        "gate",
        {"metrics": table},
        {"metrics": gate_suite(config, has_champion)},
        id_column="row_id",
    )


def _threshold(check: dict[str, Any]) -> str:
    kwargs = check["kwargs"]
    if check["type"] == "expect_column_values_to_not_be_null":
        return "defined"
    parts = []
    if "min_value" in kwargs:
        parts.append(f"{'>' if kwargs.get('strict_min') else '≥'} {kwargs['min_value']:g}")
    if "max_value" in kwargs:
        parts.append(f"≤ {kwargs['max_value']:g}")
    return " and ".join(parts)


def _status(check: dict[str, Any], row: dict[str, Any]) -> str:
    """pass, fail, warn, n/a (no value to compare: GX skips it too) or not gated."""
    if not row["gated"]:
        return "not gated"
    value, kwargs = row[check["kwargs"]["column"]], check["kwargs"]
    failed = "fail" if check["meta"]["severity"] == "fail" else "warn"
    if check["type"] == "expect_column_values_to_not_be_null":
        return "pass" if value is not None else failed
    if value is None:
        return "n/a"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    above = low is None or (value > low if kwargs.get("strict_min") else value >= low)
    return "pass" if above and (high is None or value <= high) else failed


def review_rows(
    config: GateConfig, table: pd.DataFrame, has_champion: bool
) -> list[dict[str, Any]]:
    """What a reviewer reads: per check and row, the candidate's value, the threshold,
    the baseline's and the champion's values, and pass/fail/warn."""
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    rows = []
    for check in gate_checks(config, has_champion):
        where = {k: v for k, v in check["where"].items() if k != "gated"}
        for row in records:
            if all(row[k] == v for k, v in where.items()):
                rows.append(
                    {
                        "scope": row["scope"],
                        "check": check["meta"]["check"],
                        "row": row["row_id"],
                        "value": row[check["kwargs"]["column"]],
                        "threshold": _threshold(check),
                        "baseline": row["baseline"],
                        "champion": row["champion"],
                        "detail": row["detail"],
                        "status": _status(check, row),
                    }
                )
    return rows


def warnings(rows: list[dict[str, Any]]) -> list[str]:
    """The checks that only warn, with the rows that tripped them."""
    return [
        f"{r['check']}: {r['row']} ({r['detail'] or r['value']})"
        for r in rows
        if r["status"] == "warn"
    ]


def report_html(rows: list[dict[str, Any]], passed: bool, note: str) -> str:
    """The gate's report for a reviewer: one table per scope, status first."""
    from mlpipe.core.html import heading, page, paragraph, table

    headers = ["status", "check", "row", "value", "threshold", "baseline", "champion", "detail"]
    body = [paragraph("passed: " if passed else "FAILED: ", note)]
    if any(r["scope"] == "leak" and r["status"] == "fail" for r in rows):
        body.append(paragraph(LEAK_HINT))
    for scope in SCOPES:
        part = [r for r in rows if r["scope"] == scope]
        if part:
            body.append(heading(scope))
            body.append(
                table(
                    headers,
                    [[r[h] for h in headers] for r in part],
                    [STATUS_CLASS[r["status"]] for r in part],
                )
            )
    return page("Quality gate", body)
