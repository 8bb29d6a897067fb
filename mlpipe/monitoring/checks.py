"""Monitoring checks over a window of the prediction log (checklist M2, M4, Mo1-Mo7).

Each check is a pure function returning a ``Check``: its value, its threshold from
configs/monitoring.yaml (mlpipe.core.configs.MonitorConfig), whether it is breached, and
details a person reads in the report. tasks/monitor.py gathers the inputs and writes
the report; the monitoring flow alerts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.configs import (
    DependencyRules,
    DriftRules,
    InvariantRules,
    PerformanceRules,
    QualityRules,
    SkewRules,
    StabilityRules,
)
from mlpipe.core.errors import DataError
from mlpipe.core.metrics import auc


@dataclass
class Check:
    name: str
    checklist: str
    value: Any
    threshold: Any
    breached: bool
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    summary: str = ""  # one sentence for alerts and the report's summary table

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("BREACH" if self.breached else "ok")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: Any) -> str:
    """A number for a sentence (4 significant digits), or n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def skipped(name: str, checklist: str, why: str) -> Check:
    return Check(name, checklist, None, None, False, skipped=why, summary=f"skipped: {why}")


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
    """Share of drifted features, and drift of the predicted probability; each column
    against its calibrated threshold (mlpipe.monitoring.drift)."""
    drifted = sorted(c for c in features if scores.get(c, {}).get("drifted"))
    share = len(drifted) / len(features) if features else 0.0
    prediction = scores.get("prediction", {})
    breached = share > rules.max_drifted_share or bool(prediction.get("drifted"))
    summary = (
        f"{len(drifted)} of {len(features)} features drifted ({', '.join(drifted) or 'none'}); "
        f"prediction {'drifted' if prediction.get('drifted') else 'stable'} "
        f"(score {_num(prediction.get('score'))} vs {_num(prediction.get('threshold'))})"
    )
    return Check(
        "data drift",
        "Mo2/Mo3 inputs, predictions",
        round(share, 4),
        rules.max_drifted_share,
        breached,
        {
            "drifted_features": drifted,
            "prediction_drifted": bool(prediction.get("drifted")),
            "prediction_drift": prediction.get("score"),
            "scores": {
                column: {
                    "score": s["score"],
                    "threshold": s["threshold"],
                    "noise floor": s["noise_floor"],
                    "held-out windows": s["held_out_score"],
                    "drifted": s["drifted"],
                }
                for column, s in scores.items()
            },
        },
        summary=summary,
    )


def _mismatches(served: pd.Series, recomputed: pd.Series, tolerance: float) -> pd.Series:
    numeric_left = pd.to_numeric(served, errors="coerce")
    numeric_right = pd.to_numeric(recomputed, errors="coerce")
    if numeric_right.notna().any() or numeric_left.notna().any():
        both_missing = numeric_left.isna() & numeric_right.isna()
        return ~(both_missing | ((numeric_left - numeric_right).abs() <= tolerance))
    return ~((served.isna() & recomputed.isna()) | (served == recomputed))


def skew_check(
    served: pd.DataFrame, recomputed: pd.DataFrame, rules: SkewRules, code: str
) -> Check:
    """Served feature values against the training code's values for the same inputs;
    ``code`` says which code recomputed them (the model's commit, or today's)."""
    columns = [c for c in recomputed.columns if c in served.columns]
    mismatched = pd.Series(False, index=served.index)
    by_feature = {}
    for column in columns:
        bad = _mismatches(served[column], recomputed[column].reindex(served.index), rules.tolerance)
        if bad.any():
            first = bad.idxmax()
            by_feature[column] = {
                "mismatched rows": int(bad.sum()),
                "example served": served.at[first, column],
                "example training code": recomputed.at[first, column],
            }
        mismatched |= bad
    rate = float(mismatched.mean()) if len(served) else 0.0
    summary = (
        f"{int(mismatched.sum())} of {len(served)} rows differ"
        + (f" in {', '.join(by_feature)}" if by_feature else "")
        + f"; recomputed with {code}"
    )
    return Check(
        "training/serving skew",
        "Mo3",
        round(rate, 6),
        rules.max_mismatch_rate,
        rate > rules.max_mismatch_rate,
        {
            "recomputed with": code,
            "rows": len(served),
            "mismatched_rows": int(mismatched.sum()),
            "by_feature": by_feature,
        },
        summary=summary,
    )


def quality_check(
    rows: pd.DataFrame, columns: pd.DataFrame, offline_auc: float | None, rules: QualityRules
) -> Check:
    """Online ROC AUC on labelled requests, per slice (``columns`` holds the slice values
    of each row), against the offline test metric."""
    labelled = rows.loc[rows["label"].notna() & rows["probability"].notna()]
    if len(labelled) < rules.min_labelled:
        return skipped(
            "served quality",
            "Mo7/M2",
            f"{len(labelled)} labelled requests (need {rules.min_labelled})",
        )
    online = auc(labelled["label"], labelled["probability"])
    gap = (offline_auc - online) if offline_auc is not None else None
    slices, weak = {}, []
    for column in rules.slices:
        if column not in columns.columns:
            continue
        values = columns.loc[labelled.index, column]
        for value, part in labelled.groupby(values):
            if len(part) < rules.min_slice_size:
                continue
            slice_auc = auc(part["label"], part["probability"])
            name = f"{column}={value}"
            slices[name] = {
                "rows": len(part),
                "roc_auc": None if math.isnan(slice_auc) else round(slice_auc, 4),
            }
            if not math.isnan(slice_auc) and slice_auc < rules.slice_floor:
                weak.append(name)
    breached = (gap is not None and gap > rules.max_drop_vs_offline) or bool(weak)
    summary = (
        f"online ROC AUC {_num(online)} on {len(labelled)} labelled requests, offline "
        f"{_num(offline_auc)}; weak slices: {', '.join(weak) or 'none'}"
    )
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
        summary=summary,
    )


def stability_check(rows: pd.DataFrame, served: pd.DataFrame, rules: StabilityRules) -> Check:
    proba = pd.to_numeric(rows["probability"], errors="coerce")
    bad_proba = int((~np.isfinite(proba) | (proba < 0) | (proba > 1)).sum())
    numeric = served.apply(pd.to_numeric, errors="coerce")
    infinite = np.isinf(numeric.to_numpy(dtype=float)) if not numeric.empty else np.zeros((0, 0))
    by_feature = {
        column: int(count)
        for column, count in zip(numeric.columns, infinite.sum(axis=0), strict=True)
        if count
    }
    total = int(infinite.sum())
    return Check(
        "numerical stability",
        "Mo5",
        {"predictions": bad_proba, "features": total},
        {"predictions": rules.max_nonfinite_predictions, "features": rules.max_infinite_features},
        bad_proba > rules.max_nonfinite_predictions or total > rules.max_infinite_features,
        {"non-finite predictions": bad_proba, "infinite values by feature": by_feature},
        summary=f"{bad_proba} non-finite or out-of-range predictions, "
        f"{total} infinite feature values",
    )


def _percentile(values: pd.Series, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def performance_check(rows: pd.DataFrame, history: list[float], rules: PerformanceRules) -> Check:
    """Serving latency (the whole request; the model's share beside it) against a ceiling
    and against the median p99 of earlier monitoring runs."""
    latency = pd.to_numeric(rows["latency_ms"], errors="coerce").dropna()
    model = pd.to_numeric(rows.get("model_ms", pd.Series(dtype=float)), errors="coerce").dropna()
    p99 = _percentile(latency, 99) or 0.0
    span = float(rows["ts"].max() - rows["ts"].min()) if len(rows) > 1 else 0.0
    baseline = float(np.median(history)) if history else None
    ratio = p99 / baseline if baseline else None
    breached = p99 > rules.max_p99_latency_ms or (
        ratio is not None and ratio > rules.max_regression
    )
    summary = (
        f"request latency p50 {_num(_percentile(latency, 50))} ms, p99 {_num(p99)} ms "
        f"(model p99 {_num(_percentile(model, 99))} ms); "
        + (f"{_num(ratio)}x the median of earlier runs" if ratio else "no earlier runs")
    )
    return Check(
        "computing performance",
        "Mo6",
        p99,
        {"max_p99_latency_ms": rules.max_p99_latency_ms, "max_regression": rules.max_regression},
        breached,
        {
            "p50_ms": _percentile(latency, 50),
            "p99_ms": p99,
            "model_p50_ms": _percentile(model, 50),
            "model_p99_ms": _percentile(model, 99),
            "throughput_rps": round(len(rows) / span, 2) if span else None,
            "earlier_runs": len(history),
            "history_median_p99_ms": baseline,
            "regression_ratio": None if ratio is None else round(ratio, 3),
        },
        summary=summary,
    )


TRAINING_MEASURES = ("model_fit_seconds", "peak_rss_mb")


def training_performance_check(history: list[dict[str, Any]], rules: PerformanceRules) -> Check:
    """The latest training run's fit time and peak memory against the median of the
    earlier runs started the same way (history appended by the train stage)."""
    name, checklist = "training performance", "Mo6"
    latest = history[-1] if history else {}
    same = [r for r in history[:-1] if r.get("entry") == latest.get("entry")]
    earlier = same[-rules.training_runs :]
    if not latest or len(earlier) < rules.min_training_runs:
        return skipped(
            name,
            checklist,
            f"{len(earlier)} earlier training runs recorded (need {rules.min_training_runs})",
        )
    measures, worst = {}, 0.0
    for measure in TRAINING_MEASURES:
        before = [float(r[measure]) for r in earlier if r.get(measure) is not None]
        if latest.get(measure) is None or not before:
            continue
        median = float(np.median(before))
        ratio = float(latest[measure]) / median if median > 0 else math.inf
        worst = max(worst, ratio)
        measures[measure] = {
            "latest": latest[measure],
            "median of earlier runs": round(median, 3),
            "ratio": round(ratio, 3),
            "regressed": ratio > rules.max_training_regression,
        }
    return Check(
        name,
        checklist,
        round(worst, 3),
        rules.max_training_regression,
        worst > rules.max_training_regression,
        {"started by": latest.get("entry"), "earlier_runs": len(earlier), "measures": measures},
        summary="; ".join(
            f"{measure} {_num(m['latest'])} vs median {_num(m['median of earlier runs'])}"
            for measure, m in measures.items()
        ),
    )


def dependency_check(
    running: dict[str, Any], model_tags: dict[str, str], rules: DependencyRules
) -> Check:
    """The running environment against the one the serving model was trained in."""
    recorded = {
        "lock_sha256": (model_tags.get("env.lock_sha256"), running["lock_sha256"]),
        "python": (model_tags.get("env.python"), running["python"]),
        **{
            name: (model_tags.get(f"env.{name}"), version)
            for name, version in running["packages"].items()
        },
    }
    changes = {
        name: {"model": model, "running": str(now)}
        for name, (model, now) in recorded.items()
        if model is not None and model != str(now)
    }
    return Check(
        "dependency changes",
        "Mo1",
        len(changes),
        0,
        rules.alert_on_change and bool(changes),
        {"changed": changes},
        summary="changed: "
        + (", ".join(f"{n} {c['model']} -> {c['running']}" for n, c in changes.items()) or "none"),
    )


def staleness_check(
    latest: float | None,
    train_end: float | None,
    max_age: float | None,
    unit: str,
    label: Callable[[float], str] = "{:g}".format,
) -> Check:
    """Age of the model (latest served time position minus the end of its training
    window) against the staleness study's maximum age, in the domain's time unit."""
    if train_end is None or max_age is None or latest is None or math.isnan(latest):
        return skipped(
            "model staleness",
            "Mo4/M4",
            "no staleness study (reports/staleness.json), no training window tag, "
            "or no readable time in the served inputs",
        )
    age = latest - train_end
    return Check(
        "model staleness",
        "Mo4/M4",
        age,
        max_age,
        age > max_age,
        {"unit": unit, "train_end": label(train_end), "latest_served": label(latest)},
        summary=f"{_num(age)} {unit}(s) past the training window ({label(train_end)}); "
        f"serving {label(latest)}; at most {_num(max_age)} allowed",
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
        summary=f"{len(failures)} of {len(report.checks)} expectations failed",
    )
