"""The monitoring flow: checks over a window of the prediction log, a report, MLflow
metrics, alerts, and, when configured, retraining: monitoring loops back to training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from mlpipe.core.paths import find_root


@task
def run_monitoring(root: str, window_hours: float | None) -> dict[str, Any]:
    from mlpipe.core.project import Project
    from mlpipe.monitoring.checks import load_monitor_config
    from mlpipe.serving.service import load_serving_settings
    from tasks.monitor import monitor

    ctx = Project.load(Path(root))
    config = load_monitor_config(ctx.paths.configs / "monitoring.yaml")
    log_path = ctx.paths.root / load_serving_settings(ctx.paths.root).log_path
    result = monitor(ctx, config, log_path, window_hours)
    result["retrain"] = config.alerts.retrain
    result["fail_flow"] = config.alerts.fail_flow
    return result


def summary_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Monitoring: model v{result['version']} ({result['rows']} predictions)",
        "",
        "| check | value | threshold | status |",
        "|---|---|---|---|",
    ]
    for check in result["checks"]:
        status = "skipped" if check["skipped"] else ("BREACH" if check["breached"] else "ok")
        lines.append(f"| {check['name']} | {check['value']} | {check['threshold']} | {status} |")
    return "\n".join(lines) + "\n"


@flow(name="monitoring")
def monitoring(root: str | None = None, window_hours: float | None = None) -> dict[str, Any]:
    project = str(Path(root).resolve()) if root else str(find_root())
    result = run_monitoring(project, window_hours)
    create_markdown_artifact(summary_markdown(result), key="monitoring-summary")
    if result["breaches"] and result["retrain"]:
        from flows.training import training

        training(root=project)
    if result["breaches"] and result["fail_flow"]:
        from tasks.monitor import MonitoringAlert

        breached = [c for c in result["checks"] if c["breached"]]
        raise MonitoringAlert(
            f"{len(breached)} monitoring check(s) breached on model v{result['version']}:\n"
            + "\n".join(
                f"  - {c['name']} ({c['checklist']}): {c['value']} vs threshold {c['threshold']}"
                for c in breached
            )
            + "\nreport: reports/monitoring/report.html"
        )
    return result
