"""The monitoring flow: the monitor step over a window of the prediction log (report,
MLflow metrics, alerts), then, on a breach and when configured, retraining (monitoring
loops back to training: the new candidate is gated and registered like any other) and a
failed run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from mlpipe.core.cpus import limit_threads
from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import find_root
from tasks import run_step


class MonitoringAlert(PipelineError):
    """At least one monitoring check breached its threshold."""


@task
def run_monitoring(root: str, window_hours: float | None) -> dict[str, Any]:
    return run_step(["monitor", *([str(window_hours)] if window_hours else [])], Path(root))


@flow(name="monitoring")
def monitoring(root: str | None = None, window_hours: float | None = None) -> dict[str, Any]:
    from mlpipe.monitoring.report import alert_message, markdown

    limit_threads()  # a deployment run starts here, not at the mlpipe command line
    project = str(Path(root).resolve()) if root else str(find_root())
    result = run_monitoring(project, window_hours)
    create_markdown_artifact(markdown(result), key="monitoring-summary")
    retraining = None
    if result["breaches"] and result["retrain"]:
        from flows.training import training

        state = training(root=project, return_state=True)
        failed_run = state.is_failed()
        retraining = (state.message or "the training flow failed") if failed_run else None
        result["retrained"] = retraining is None
    if result["breaches"] and (result["fail_flow"] or retraining):
        failed = f"\nthe retraining it started failed: {retraining}" if retraining else ""
        raise MonitoringAlert(alert_message(result) + failed)
    return result
