"""The training flow: every stage of dvc.yaml, in DVC's order, each as a Prefect task.

Stages come from dvc.yaml (mlpipe.core.dag.plan), not from a list here; each one runs in
this process and is committed to dvc.lock, so `dvc status` is clean afterwards."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.summary import markdown_summary
from mlpipe.core.dag import StageOutcome, plan, reproduce
from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import find_root
from tasks import run_step


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only unexpected errors (I/O, network), never a clear pipeline error."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, PipelineError)


@task(retry_condition_fn=_transient)
def dvc_stage(root: str, name: str, force: bool) -> StageOutcome:
    logger = get_run_logger()
    logger.info("stage %s: checking for changes", name)
    outcome = reproduce(Path(root), name, lambda args: run_step(args, Path(root)), force=force)
    if outcome.ran:
        logger.info("stage %s done in %.1f s", name, outcome.seconds)
    else:
        logger.info("stage %s unchanged, skipped", name)
    return outcome


@task
def side_effect(root: str, args: list[str]) -> StageOutcome:
    """A step after the DAG (gate, register): it depends on the registry, not only on files,
    so it is not a DVC stage and runs every time."""
    start = time.perf_counter()
    result = run_step(args, Path(root))
    return StageOutcome(args[0], ran=True, seconds=time.perf_counter() - start, result=result)


@flow(name="training")
def training(
    root: str | None = None, force: bool = False, register: bool = True
) -> list[StageOutcome]:
    """Run the pipeline of dvc.yaml, then gate and register the candidate.

    ``force`` re-runs unchanged stages too; ``register=False`` stops after evaluate."""
    project = str(Path(root).resolve()) if root else str(find_root())
    outcomes = []
    for spec in plan(Path(project)):
        stage_task = dvc_stage.with_options(
            name=spec.name, retries=spec.retries, retry_delay_seconds=spec.retry_delay_seconds
        )
        outcomes.append(stage_task(project, spec.name, force))
    if register:
        for step in ("gate", "register"):
            outcomes.append(side_effect.with_options(name=step)(project, [step]))
    create_markdown_artifact(
        markdown_summary(outcomes), key="training-summary", description="Training pipeline run"
    )
    return outcomes
