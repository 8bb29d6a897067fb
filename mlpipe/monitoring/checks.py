"""Monitoring checks over a window of the prediction log (checklist M2, M4, Mo1-Mo7).

Each check is a pure function returning a ``Check``: its value, its threshold from
configs/monitoring.yaml, and whether it is breached. The flow (flows/monitoring.py)
gathers the inputs, runs them, and reports and alerts."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from mlpipe.core.errors import ConfigError, DataError
from mlpipe.core.params import load_yaml_config


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriftRules(_Section):
    feature_threshold: float = 0.1
    max_drifted_share: float = 0.3
    prediction_threshold: float = 0.1


class InvariantRules(_Section):
    max_failed_expectations: int = 0


class SkewRules(_Section):
    max_mismatch_rate: float = 0.0
    tolerance: float = 1e-9


class QualityRules(_Section):
    min_labelled: int = 100
    max_drop_vs_offline: float = 0.05
    slices: list[str] = []
    min_slice_size: int = 100
    slice_floor: float = 0.5


class StabilityRules(_Section):
    max_nonfinite_predictions: int = 0
    max_infinite_features: int = 0


class PerformanceRules(_Section):
    max_p99_latency_ms: float = 250
    max_regression: float = 1.5


class DependencyRules(_Section):
    alert_on_change: bool = True


class AlertRules(_Section):
    file: str = "reports/monitoring/alerts.jsonl"
    webhook_url: str | None = None
    fail_flow: bool = True
    retrain: bool = False


class MonitorConfig(_Section):
    window_hours: float | None = None
    reference_rows: int = 20000
    drift: DriftRules = DriftRules()
    invariants: InvariantRules = InvariantRules()
    skew: SkewRules = SkewRules()
    quality: QualityRules = QualityRules()
    stability: StabilityRules = StabilityRules()
    performance: PerformanceRules = PerformanceRules()
    dependencies: DependencyRules = DependencyRules()
    alerts: AlertRules = AlertRules()


def load_monitor_config(path: Path) -> MonitorConfig:
    try:
        return MonitorConfig.model_validate(load_yaml_config(path))
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path.name} is invalid: {details}") from None


@dataclass
class Check:
    name: str
    checklist: str
    value: Any
    threshold: Any
    breached: bool
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(name: str, checklist: str, why: str) -> Check:
    return Check(name, checklist, None, None, False, skipped=why)


def parse_logged(log: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int]:
    """Logged JSON cells as a frame; corrupt cells are dropped and counted, not fatal."""
    parsed, corrupt, index = [], 0, []
    for position, cell in zip(log.index, log[column], strict=True):
        try:
            value = json.loads(cell) if isinstance(cell, str) else None
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            parsed.append(value)
            index.append(position)
        else:
            corrupt += 1
    return pd.DataFrame(parsed, index=index), corrupt


def champion_rows(log: pd.DataFrame) -> pd.DataFrame:
    rows = log.loc[log["role"] == "champion"]
    if rows.empty:
        raise DataError("the prediction log window has no champion predictions to monitor")
    return rows


def drift_check(scores: dict[str, dict[str, Any]], features: list[str], rules: DriftRules) -> Check:
    drifted = sorted(c for c in features if scores.get(c, {}).get("drifted"))
    share = len(drifted) / len(features) if features else 0.0
    prediction = scores.get("prediction", {})
    breached = share > rules.max_drifted_share or bool(prediction.get("drifted"))
    return Check(
        "data drift",
        "Mo2/Mo3 inputs, predictions",
        round(share, 4),
        rules.max_drifted_share,
        breached,
        {
            "drifted_features": drifted,
            "prediction_drift": prediction.get("score"),
            "scores": {k: v["score"] for k, v in scores.items()},
        },
    )


def skew_check(served: pd.DataFrame, recomputed: pd.DataFrame, rules: SkewRules) -> Check:
    """Served feature values against the training code's values for the same inputs."""
    columns = [c for c in recomputed.columns if c in served.columns]
    mismatched = pd.Series(False, index=served.index)
    per_column = {}
    for column in columns:
        left, right = served[column], recomputed[column].reindex(served.index)
        numeric_left = pd.to_numeric(left, errors="coerce")
        numeric_right = pd.to_numeric(right, errors="coerce")
        if numeric_right.notna().any() or numeric_left.notna().any():
            both_missing = numeric_left.isna() & numeric_right.isna()
            close = (numeric_left - numeric_right).abs() <= rules.tolerance
            bad = ~(both_missing | close)
        else:
            bad = ~((left.isna() & right.isna()) | (left == right))
        per_column[column] = int(bad.sum())
        mismatched |= bad
    rate = float(mismatched.mean()) if len(served) else 0.0
    return Check(
        "training/serving skew",
        "Mo3",
        round(rate, 6),
        rules.max_mismatch_rate,
        rate > rules.max_mismatch_rate,
        {
            "rows": len(served),
            "mismatched_rows": int(mismatched.sum()),
            "by_feature": {k: v for k, v in per_column.items() if v},
        },
    )


def _auc(labels: pd.Series, scores: pd.Series) -> float:
    from sklearn.metrics import roc_auc_score

    if labels.nunique() < 2:
        return math.nan
    return float(roc_auc_score(labels.astype(int), scores))


def quality_check(
    rows: pd.DataFrame, inputs: pd.DataFrame, offline_auc: float | None, rules: QualityRules
) -> Check:
    """Online ROC AUC on labelled requests, per slice, against the offline test metric."""
    labelled = rows.loc[rows["label"].notna() & rows["probability"].notna()]
    if len(labelled) < rules.min_labelled:
        return skipped(
            "served quality",
            "Mo7/M2",
            f"{len(labelled)} labelled requests (need {rules.min_labelled})",
        )
    online = _auc(labelled["label"], labelled["probability"])
    gap = (offline_auc - online) if offline_auc is not None else None
    slices, weak = {}, []
    for column in rules.slices:
        if column not in inputs.columns:
            continue
        values = inputs.loc[labelled.index, column]
        for value, part in labelled.groupby(values):
            if len(part) < rules.min_slice_size:
                continue
            auc = _auc(part["label"], part["probability"])
            slices[f"{column}={value}"] = None if math.isnan(auc) else round(auc, 4)
            if not math.isnan(auc) and auc < rules.slice_floor:
                weak.append(f"{column}={value}")
    breached = (gap is not None and gap > rules.max_drop_vs_offline) or bool(weak)
    return Check(
        "served quality",
        "Mo7/M2",
        None if math.isnan(online) else round(online, 4),
        {"max_drop_vs_offline": rules.max_drop_vs_offline, "slice_floor": rules.slice_floor},
        breached,
        {
            "labelled": len(labelled),
            "offline_roc_auc": offline_auc,
            "online_minus_offline": None if gap is None else round(-gap, 4),
            "slices": slices,
            "weak_slices": weak,
        },
    )


def stability_check(rows: pd.DataFrame, served: pd.DataFrame, rules: StabilityRules) -> Check:
    proba = pd.to_numeric(rows["probability"], errors="coerce")
    bad_proba = int((~np.isfinite(proba) | (proba < 0) | (proba > 1)).sum())
    numeric = served.apply(pd.to_numeric, errors="coerce")
    infinite = int(np.isinf(numeric.to_numpy(dtype=float)).sum()) if not numeric.empty else 0
    return Check(
        "numerical stability",
        "Mo5",
        {"predictions": bad_proba, "features": infinite},
        {"predictions": rules.max_nonfinite_predictions, "features": rules.max_infinite_features},
        bad_proba > rules.max_nonfinite_predictions or infinite > rules.max_infinite_features,
    )


def performance_check(rows: pd.DataFrame, history: list[float], rules: PerformanceRules) -> Check:
    latency = pd.to_numeric(rows["latency_ms"], errors="coerce").dropna()
    p50 = float(np.percentile(latency, 50)) if len(latency) else 0.0
    p99 = float(np.percentile(latency, 99)) if len(latency) else 0.0
    span = float(rows["ts"].max() - rows["ts"].min()) if len(rows) > 1 else 0.0
    baseline = float(np.median(history)) if history else None
    ratio = p99 / baseline if baseline else None
    breached = p99 > rules.max_p99_latency_ms or (
        ratio is not None and ratio > rules.max_regression
    )
    return Check(
        "computing performance",
        "Mo6",
        round(p99, 3),
        {"max_p99_latency_ms": rules.max_p99_latency_ms, "max_regression": rules.max_regression},
        breached,
        {
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "throughput_rps": round(len(rows) / span, 2) if span else None,
            "history_median_p99_ms": baseline,
            "regression_ratio": None if ratio is None else round(ratio, 3),
        },
    )


def dependency_check(
    running: dict[str, Any], model_tags: dict[str, str], rules: DependencyRules
) -> Check:
    changes = {}
    if model_tags.get("env.lock_sha256") not in (None, str(running["lock_sha256"])):
        changes["lock_sha256"] = [model_tags.get("env.lock_sha256"), running["lock_sha256"]]
    if model_tags.get("env.python") not in (None, running["python"]):
        changes["python"] = [model_tags.get("env.python"), running["python"]]
    for name, version in running["packages"].items():
        recorded = model_tags.get(f"env.{name}")
        if recorded is not None and recorded != str(version):
            changes[name] = [recorded, str(version)]
    return Check(
        "dependency changes",
        "Mo1",
        len(changes),
        0,
        rules.alert_on_change and bool(changes),
        {"changed": changes},
    )


def staleness_check(served_months: pd.Series, train_end: int | None, max_age: int | None) -> Check:
    if train_end is None or max_age is None:
        return skipped(
            "model staleness",
            "Mo4/M4",
            "no staleness study (reports/staleness.json) or no training window tag",
        )
    age = int(pd.to_numeric(served_months, errors="coerce").max()) - train_end
    return Check(
        "model staleness",
        "Mo4/M4",
        age,
        max_age,
        age > max_age,
        {
            "train_end_month": train_end,
            "latest_served_month": int(pd.to_numeric(served_months, errors="coerce").max()),
        },
    )


def invariants_check(report: Any, rules: InvariantRules) -> Check:
    failures = [f"{c.column}: {c.expectation} observed {c.observed}" for c in report.failures]
    return Check(
        "data invariants",
        "Mo2",
        len(failures),
        rules.max_failed_expectations,
        len(failures) > rules.max_failed_expectations,
        {"expectations": len(report.checks), "failures": failures[:20]},
    )
