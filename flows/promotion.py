"""The promotion flow: review the challenger from the prediction log, then promote it,
reject it, roll a breaching canary back, or wait for more evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from mlpipe.core.paths import find_root


@task
def review_challenger(root: str, window_hours: float | None) -> dict[str, Any]:
    from mlpipe.core.project import Project
    from tasks.review import review_from_log

    return review_from_log(Project.load(Path(root)), window_hours).to_dict()


@task
def act_on_review(root: str, decision: dict[str, Any]) -> str:
    from mlpipe.core.project import Project
    from tasks.review import act

    return act(Project.load(Path(root)), decision)


@flow(name="promotion")
def promotion(root: str | None = None, window_hours: float | None = None) -> dict[str, Any]:
    project = str(Path(root).resolve()) if root else str(find_root())
    decision = review_challenger(project, window_hours)
    outcome = act_on_review(project, decision)
    get_run_logger().info("challenger review: %s (%s)", decision["decision"], outcome)
    from mlpipe.release.review import Review

    create_markdown_artifact(Review(**decision).markdown(), key="challenger-review")
    return {**decision, "outcome": outcome}
