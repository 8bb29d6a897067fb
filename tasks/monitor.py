"""The I/O around mlpipe.monitoring.checks: read the log window and the references, run every
check, write the report (HTML + JSON + plot), record MLflow metrics, raise alerts."""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.errors import DataError, PipelineError
from mlpipe.core.io import atomic_path, read_parquet, write_json, write_text
from mlpipe.core.lineage import environment
from mlpipe.core.project import Project
from mlpipe.core.registry import Registry
from mlpipe.core.validation import load_suite, validate_tables
from mlpipe.monitoring import checks as m
from mlpipe.serving.predictionlog import read_window

logger = logging.getLogger("mlpipe.monitor")


class MonitoringAlert(PipelineError):
    """At least one monitoring check breached its threshold."""


@dataclass
class Window:
    rows: pd.DataFrame
    inputs: pd.DataFrame
    served: pd.DataFrame
    corrupt_rows: int
    version: str


def load_window(ctx: Project, log_path: Path, window_hours: float | None) -> Window:
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


def recompute_features(ctx: Project, inputs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The training pipeline's features for the logged raw inputs."""
    domain = ctx.domain
    context = ctx.reference_context()
    flights = inputs.reindex(columns=list(domain.SERVING_FIELDS))
    base = domain.enrich(flights.reset_index(drop=True), context, ctx.options)
    features, _ = domain.features.compute(base, names)
    features.index = inputs.index
    return features


def _features_suite_for(served: pd.DataFrame, suite: dict[str, Any]) -> dict[str, Any]:
    """The training feature suite, minus expectations on columns serving does not have
    (label, split) and on the table's size."""
    kept = [e for e in suite["expectations"] if e["kwargs"].get("column") in served.columns]
    return {"name": suite.get("name", "features") + "_served", "expectations": kept}


def run_checks(ctx: Project, config: m.MonitorConfig, window: Window, out: Path) -> list[m.Check]:
    registry = Registry(ctx.paths)
    tags = dict(registry.version(window.version).tags)
    names = json.loads(tags.get("model.features", "[]")) or ctx.params.features
    kinds = ctx.domain.features.kinds(names)
    served = window.served.reindex(columns=names)
    checks = []

    if not ctx.paths.features.is_file():
        raise DataError(
            f"no drift reference: {ctx.paths.features} is missing; run the training pipeline first"
        )
    reference = read_parquet(ctx.paths.features)
    reference = reference.loc[reference["split"] == "train"]
    reference = reference.sample(n=min(config.reference_rows, len(reference)), random_state=0)
    from mlpipe.monitoring.drift import drift_scores

    numeric = [n for n in names if kinds[n] == "numeric"]
    categorical = [n for n in names if kinds[n] == "categorical"]
    scores = drift_scores(
        reference, served, numeric, categorical, config.drift.feature_threshold, out / "drift.html"
    )
    ref_pred = pd.DataFrame(
        {"prediction": registry_predictions(registry, window.version, reference[names])}
    )
    cur_pred = pd.DataFrame({"prediction": pd.to_numeric(window.rows["probability"])})
    scores.update(
        drift_scores(ref_pred, cur_pred, ["prediction"], [], config.drift.prediction_threshold)
    )
    checks.append(m.drift_check(scores, names, config.drift))
    plot_drift(scores, config.drift.feature_threshold, out / "drift.png")

    suite = _features_suite_for(served, load_suite(ctx.paths.expectations / "features.json"))
    checks.append(
        m.invariants_check(
            validate_tables("served", {"served": served}, {"served": suite}), config.invariants
        )
    )
    checks.append(m.skew_check(served, recompute_features(ctx, window.inputs, names), config.skew))
    offline = tags.get("metrics.test.roc_auc")
    checks.append(
        m.quality_check(
            window.rows,
            window.inputs,
            float(offline) if offline not in (None, "None") else None,
            config.quality,
        )
    )
    checks.append(m.stability_check(window.rows, served, config.stability))
    history_path = out / "history.jsonl"
    history = (
        [
            json.loads(line)["p99_ms"]
            for line in history_path.read_text().splitlines()
            if line.strip()
        ]
        if history_path.is_file()
        else []
    )
    checks.append(m.performance_check(window.rows, history, config.performance))
    checks.append(m.dependency_check(environment(ctx.paths.root), tags, config.dependencies))
    staleness = ctx.paths.reports / "staleness.json"
    max_age = json.loads(staleness.read_text())["max_age_months"] if staleness.is_file() else None
    params = json.loads(tags.get("params", "{}"))
    train_end = params.get("split", {}).get("train", [None, None])[1]
    checks.append(
        m.staleness_check(window.inputs.get("month", pd.Series(dtype=float)), train_end, max_age)
    )
    return checks


def registry_predictions(registry: Registry, version: str, frame: pd.DataFrame) -> np.ndarray:
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(f"models:/{registry.name}/{version}")
    return model.predict_proba(frame)[:, 1]


def plot_drift(scores: dict[str, dict[str, Any]], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(scores, key=lambda n: scores[n]["score"])
    values = [scores[n]["score"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.5))
    ax.barh(names, values, color=["#c44e52" if v >= threshold else "#4c72b0" for v in values])
    ax.axvline(threshold, color="grey", linestyle=":")
    ax.set(xlabel="drift score (Wasserstein / Jensen-Shannon)", title="Drift: served vs training")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def report_html(checks: list[m.Check], window: Window) -> str:
    rows = []
    for check in checks:
        status = "skipped" if check.skipped else ("BREACH" if check.breached else "ok")
        detail = check.skipped or json.dumps(check.details, default=str)[:400]
        rows.append(
            f"<tr class='{status.lower()}'><td>{status}</td><td>{html.escape(check.name)}"
            f"</td><td>{html.escape(check.checklist)}</td>"
            f"<td>{html.escape(json.dumps(check.value, default=str))}</td>"
            f"<td>{html.escape(json.dumps(check.threshold, default=str))}</td>"
            f"<td>{html.escape(detail)}</td></tr>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Monitoring</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;vertical-align:top}"
        ".breach{background:#fde2e2}.skipped{color:#888}</style></head><body>"
        f"<h1>Monitoring: model v{window.version}</h1>"
        f"<p>{len(window.rows)} served predictions, {window.corrupt_rows} corrupt log rows "
        "skipped. <a href='drift.html'>Evidently drift report</a></p>"
        "<table><tr><th>status</th><th>check</th><th>checklist</th><th>value</th>"
        "<th>threshold</th><th>details</th></tr>" + "".join(rows) + "</table>"
        "<h2>Drift by feature</h2><img src='drift.png'></body></html>\n"
    )


def log_metrics(ctx: Project, checks: list[m.Check]) -> str:
    import mlflow

    from mlpipe.core.tracking import tracking_settings, use_experiment

    settings = tracking_settings(ctx.paths)
    experiment = use_experiment(
        type(settings)(
            settings.tracking_uri, settings.artifact_location, settings.experiment + "-monitoring"
        )
    )
    metrics = {}
    for check in checks:
        key = check.name.replace(" ", "_").replace("/", "_")
        if isinstance(check.value, int | float):
            metrics[key] = float(check.value)
        metrics[f"{key}.breached"] = float(check.breached)
    with mlflow.start_run(experiment_id=experiment, run_name="monitor") as run:
        mlflow.log_metrics(metrics)
    return run.info.run_id


def raise_alerts(ctx: Project, config: m.MonitorConfig, breaches: list[m.Check]) -> None:
    """Log line, alerts file and optional webhook; never raises on a webhook failure."""
    if not breaches:
        return
    summary = {"at": time.time(), "breaches": [c.to_dict() for c in breaches]}
    names = ", ".join(c.name for c in breaches)
    logger.warning("MONITORING ALERT: %s", names)
    path = ctx.paths.root / config.alerts.file
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(summary, default=str) + "\n")
    if config.alerts.webhook_url:
        import httpx

        try:
            httpx.post(config.alerts.webhook_url, json=summary, timeout=5).raise_for_status()
        except httpx.HTTPError as error:
            logger.warning("alert webhook %s failed: %s", config.alerts.webhook_url, error)


def monitor(
    ctx: Project, config: m.MonitorConfig, log_path: Path, window_hours: float | None
) -> dict[str, Any]:
    out = ctx.paths.reports / "monitoring"
    window = load_window(ctx, log_path, window_hours if window_hours else config.window_hours)
    checks = run_checks(ctx, config, window, out)
    breaches = [c for c in checks if c.breached]
    result = {
        "version": window.version,
        "rows": len(window.rows),
        "corrupt_rows": window.corrupt_rows,
        "breaches": [c.name for c in breaches],
        "checks": [c.to_dict() for c in checks],
    }
    write_json(out / "report.json", result)
    write_text(out / "report.html", report_html(checks, window))
    performance = next(c for c in checks if c.name == "computing performance")
    with (out / "history.jsonl").open("a") as handle:
        handle.write(json.dumps({"at": time.time(), "p99_ms": performance.value}) + "\n")
    result["mlflow_run_id"] = log_metrics(ctx, checks)
    raise_alerts(ctx, config, breaches)
    return result
