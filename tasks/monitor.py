"""monitor: every check of mlpipe.monitoring over a window of the prediction log, against
the model that served it. Not a DVC stage (it reads the prediction log and the registry).

Reads the window, the training window's features (the drift reference), the registered
version's tags and the histories; writes reports/monitoring/ (report.html, report.json,
drift.html, drift.png), logs the results as MLflow metrics, appends the alerts file and
posts the webhook. Breaches are reported in the result; the monitoring flow decides
whether they fail the run or start a retraining."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlpipe.core import plots
from mlpipe.core.configs import MonitorConfig
from mlpipe.core.errors import DataError
from mlpipe.core.io import read_json, read_parquet, to_jsonable, write_json, write_text
from mlpipe.core.lineage import environment
from mlpipe.core.project import SPLIT, Project
from mlpipe.core.registry import Registry, VersionInfo
from mlpipe.core.tracking import log_metrics_run, tracking_settings
from mlpipe.core.validation import load_suite, validate_tables
from mlpipe.monitoring import checks as m
from mlpipe.monitoring import history
from mlpipe.monitoring.drift import Calibration, drift_scores, evidently_report
from mlpipe.monitoring.recompute import pseudonym_dependent, recompute
from mlpipe.monitoring.report import report_html
from mlpipe.serving.predictionlog import read_window

logger = logging.getLogger("mlpipe.monitor")

# windows of the feature table the model was not fitted on, yet from before serving
HELD_OUT = ("valid", "test")


@dataclass
class Window:
    rows: pd.DataFrame
    inputs: pd.DataFrame
    served: pd.DataFrame
    corrupt_rows: int
    version: str


def load_window(log_path: Path, window_hours: float | None) -> Window:
    since = time.time() - window_hours * 3600 if window_hours else None
    log = read_window(log_path, since=since)
    if log.empty:
        raise DataError(f"the prediction log {log_path} has no predictions in the window")
    rows = m.champion_rows(log)
    inputs, bad_inputs = m.parse_logged(rows, "inputs")
    served, bad_features = m.parse_logged(rows, "features")
    keep = inputs.index.intersection(served.index)
    if keep.empty:
        raise DataError("every logged row in the window is corrupt: nothing to monitor")
    version = str(rows["version"].mode().iloc[0])
    return Window(
        rows.loc[keep], inputs.loc[keep], served.loc[keep], bad_inputs + bad_features, version
    )


def drift_check(
    project: Project, config: MonitorConfig, window: Window, model: Any, names: list[str]
) -> m.Check:
    """Served features and predictions against the training window's (see
    mlpipe.monitoring.drift for how thresholds are calibrated)."""
    if not project.paths.features.is_file():
        raise DataError(
            f"no drift reference: {project.paths.features} is missing; "
            "run the training pipeline first"
        )
    table = project.feature_table()
    train = table.loc[table[SPLIT] == "train"]
    reference = train.sample(n=min(config.reference_rows, len(train)), random_state=0)
    held_out = table.loc[table[SPLIT].isin(HELD_OUT)]
    reference = reference.assign(prediction=model.predict_proba(reference[names])[:, 1])
    if len(held_out):
        held_out = held_out.assign(prediction=model.predict_proba(held_out[names])[:, 1])
    current = window.served.reindex(columns=names).assign(
        prediction=pd.to_numeric(window.rows["probability"], errors="coerce")
    )
    rules = config.drift
    kinds = project.domain.features.kinds(names)
    scores = {}
    for columns, floor in (
        (kinds, rules.feature_threshold),
        ({"prediction": "numeric"}, rules.prediction_threshold),
    ):
        calibration = Calibration(
            floor, rules.noise_draws, rules.noise_quantile, rules.noise_margin
        )
        scores.update(drift_scores(reference, current, columns, calibration, held_out))
    out = history.folder(project.paths)
    thresholds = {column: s["threshold"] for column, s in scores.items()}
    evidently_report(
        reference, current, {**kinds, "prediction": "numeric"}, thresholds, out / "drift.html"
    )
    plots.bars(
        {column: s["score"] / s["threshold"] for column, s in scores.items()},
        1.0,
        out / "drift.png",
        "drift score / calibrated threshold",
        "Drift: served vs training window",
    )
    return m.drift_check(scores, names, rules)


def invariants_check(project: Project, config: MonitorConfig, served: pd.DataFrame) -> m.Check:
    """The training feature suite on served features, minus expectations on columns
    serving does not have (label, split) and on the whole table."""
    suite = load_suite(project.paths.expectations / "features.json")
    kept = [e for e in suite["expectations"] if e["kwargs"].get("column") in served.columns]
    served_suite = {"name": suite.get("name", "features") + "_served", "expectations": kept}
    report = validate_tables("served", {"served": served}, {"served": served_suite})
    return m.invariants_check(report, config.invariants)


def staleness_check(project: Project, window: Window, version: VersionInfo) -> m.Check:
    study = project.paths.reports / "staleness.json"
    max_age = None
    if study.is_file():
        found = read_json(study)
        max_age = found.get("max_age", found.get("max_age_months"))
    column = project.time_column
    latest = (
        float(project.axis.positions(window.inputs[column]).max())
        if column in window.inputs.columns
        else None
    )
    return m.staleness_check(
        latest, version.train_end, max_age, project.domain.time_unit, project.axis.label
    )


def run_checks(project: Project, config: MonitorConfig, window: Window) -> list[m.Check]:
    registry = Registry(project.paths)
    version = registry.version(window.version)
    names = version.features or project.features
    served = window.served.reindex(columns=names)
    model = registry.load_model(window.version)
    recomputed = recompute(project, window.inputs, names, version.tags)
    domain = project.domain
    probe = read_parquet(
        project.paths.raw / f"{domain.main_table}.parquet", list(domain.serving_fields)
    )
    probe = probe.sample(n=min(500, len(probe)), random_state=0)[list(domain.serving_fields)]
    unrecoverable = pseudonym_dependent(domain, project.reference_context, probe, names)
    skew_code = recomputed.code + (
        f"; not compared: {', '.join(unrecoverable)} (computed from fields the log keeps "
        "only as pseudonyms)"
        if unrecoverable
        else ""
    )
    slice_values = window.inputs.drop(columns=served.columns, errors="ignore").join(served)
    latency = [r["p99_ms"] for r in history.read(history.latency_history(project.paths))]
    training = history.read(history.training_history(project.paths))
    return [
        drift_check(project, config, window, model, names),
        invariants_check(project, config, served),
        m.skew_check(
            served, recomputed.features.drop(columns=unrecoverable), config.skew, skew_code
        ),
        m.quality_check(window.rows, slice_values, version.offline_roc_auc, config.quality),
        m.stability_check(window.rows, served, config.stability),
        m.performance_check(window.rows, latency, config.performance),
        m.training_performance_check(training, config.performance),
        m.dependency_check(environment(project.paths.root), version.tags, config.dependencies),
        staleness_check(project, window, version),
    ]


def log_metrics(project: Project, checks: list[m.Check]) -> str:
    metrics = {}
    for check in checks:
        key = check.name.replace(" ", "_").replace("/", "_")
        if isinstance(check.value, int | float):
            metrics[key] = float(check.value)
        metrics[f"{key}.breached"] = float(check.breached)
    settings = tracking_settings(project.paths)
    return log_metrics_run(settings, settings.experiment + "-monitoring", "monitor", metrics)


def raise_alerts(project: Project, config: MonitorConfig, breaches: list[m.Check]) -> None:
    """Log line, alerts file and optional webhook; never raises on a webhook failure."""
    if not breaches:
        return
    summary = {"at": time.time(), "breaches": [c.to_dict() for c in breaches]}
    logger.warning("MONITORING ALERT: %s", ", ".join(c.name for c in breaches))
    history.append(project.paths.root / config.alerts.file, summary)
    if config.alerts.webhook_url:
        import httpx

        try:
            httpx.post(
                config.alerts.webhook_url,
                json=to_jsonable(summary),
                timeout=5,
            ).raise_for_status()
        except httpx.HTTPError as error:
            logger.warning("alert webhook %s failed: %s", config.alerts.webhook_url, error)


def monitor(
    project: Project, log_path: Path | None = None, window_hours: float | None = None
) -> dict[str, Any]:
    """Run every check on the window (default: configs/serving.yaml's log and
    configs/monitoring.yaml's window), write the report, record and alert."""
    config = project.configs.monitoring
    log_path = log_path or project.paths.root / project.configs.serving.log_path
    window = load_window(log_path, window_hours or config.window_hours)
    checks = run_checks(project, config, window)
    breaches = [c for c in checks if c.breached]
    result = {
        "version": window.version,
        "rows": len(window.rows),
        "corrupt_rows": window.corrupt_rows,
        "breaches": [c.name for c in breaches],
        "checks": [c.to_dict() for c in checks],
        "retrain": config.alerts.retrain,
        "fail_flow": config.alerts.fail_flow,
    }
    out = history.folder(project.paths)
    write_json(out / "report.json", result)
    write_text(
        out / "report.html",
        report_html(checks, window.version, len(window.rows), window.corrupt_rows),
    )
    performance = next(c for c in checks if c.name == "computing performance")
    history.append(
        history.latency_history(project.paths), {"at": time.time(), "p99_ms": performance.value}
    )
    result["mlflow_run_id"] = log_metrics(project, checks)
    raise_alerts(project, config, breaches)
    return result


def run(project: Project, window_hours: str | None = None) -> dict[str, Any]:
    """``mlpipe stage monitor [HOURS]``: the checks once; breaches are in the result."""
    return monitor(project, window_hours=float(window_hours) if window_hours else None)
