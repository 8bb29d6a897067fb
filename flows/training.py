"""The training flow: every stage of dvc.yaml, in DVC's order, each as a Prefect task.

Stages come from dvc.yaml (mlpipe.core.dag.plan), not from a list here; each one runs in
this process and is committed to dvc.lock, so `dvc status` is clean afterwards."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed, State

from flows.failures import known_failure
from flows.summary import markdown_summary
from flows.uptodate import record_registration, registered_version
from mlpipe.core.cpus import limit_threads
from mlpipe.core.dag import StageOutcome, StageSpec, plan, reproduce
from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import ProjectPaths, find_root
from tasks import run_step

# the release steps after the DAG, in order
RELEASE = ("gate", "register")


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only unexpected errors (I/O, network), never a clear pipeline error."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, PipelineError)


def _failed_cleanly(error: Exception, root: str) -> State:
    """A clear pipeline error (or an error with a known cause: a corrupt store, a missing
    file) ends the task Failed with its message, without the traceback Prefect would log
    for an unexpected exception; anything else is raised for Prefect (and its retries)."""
    known = known_failure(error, Path(root))
    if known is None:
        raise error
    return Failed(message=str(known))


def _import_deadlock(error: BaseException | None) -> bool:
    """Python's import lock refused two threads importing the same modules in opposite
    orders (stages side by side, each importing its libraries lazily): the other thread
    finishes its import, so the stage can simply run again."""
    while error is not None:
        if type(error).__name__ == "_DeadlockError":
            return True
        error = error.__cause__ or error.__context__
    return False


IMPORT_DEADLOCK_ATTEMPTS = 3


@task(retry_condition_fn=_transient)
def dvc_stage(root: str, name: str, force: bool) -> StageOutcome | State:
    logger = get_run_logger()
    logger.info("stage %s: checking for changes", name)
    for attempt in range(1, IMPORT_DEADLOCK_ATTEMPTS + 1):
        try:
            outcome = reproduce(Path(root), name, lambda args: run_step(args, Path(root)), force)
            break
        except Exception as error:
            if attempt < IMPORT_DEADLOCK_ATTEMPTS and _import_deadlock(error):
                logger.info("stage %s: an import raced another stage's; running it again", name)
                time.sleep(attempt)
                continue
            return _failed_cleanly(error, root)
    if outcome.ran:
        logger.info("stage %s done in %.1f s", name, outcome.seconds)
    else:
        logger.info("stage %s unchanged, skipped", name)
    return outcome


@task
def side_effect(root: str, args: list[str]) -> StageOutcome | State:
    """A step after the DAG (gate, register): it depends on the registry, not only on files,
    so it is not a DVC stage and runs every time."""
    start = time.perf_counter()
    try:
        result = run_step(args, Path(root))
    except Exception as error:
        return _failed_cleanly(error, root)
    if args[0] == "register":
        record_registration(ProjectPaths(Path(root)), result)
    return StageOutcome(args[0], ran=True, seconds=time.perf_counter() - start, result=result)


@flow(name="training")
def training(
    root: str | None = None, force: bool = False, release: bool = True
) -> list[StageOutcome] | State:
    """Run the pipeline of dvc.yaml, then gate and register the candidate.

    ``force`` re-runs unchanged stages too; ``release=False`` stops after the DAG; a model
    already registered (.mlpipe/registered.json, checked against the store) is not gated
    again. A stage that fails with a clear error ends the flow run Failed with that
    message."""
    limit_threads()  # a deployment run starts here, not at the mlpipe command line
    project = str(Path(root).resolve()) if root else str(find_root())
    outcomes = run_dag(project, plan(Path(project)), force)
    if isinstance(outcomes, State):
        return outcomes
    if release:
        outcomes += release_steps(project, force)
        if isinstance(outcomes[-1], State):
            return outcomes[-1]
    create_markdown_artifact(
        markdown_summary(outcomes), key="training-summary", description="Training pipeline run"
    )
    return outcomes


def run_dag(project: str, specs: list[StageSpec], force: bool) -> list[StageOutcome] | State:
    """Every stage as a task, each started as soon as the stages it reads from are done,
    so independent branches (evaluate beside staleness) run side by side. After a
    failure no stage starts; the ones running finish; the flow fails with the first
    failure in DVC's order."""
    from prefect.futures import as_completed

    order = [spec.name for spec in specs]
    waiting = {spec.name: spec for spec in specs}
    running: dict[str, Any] = {}
    states: dict[str, State] = {}
    while waiting or running:
        failed = any(not state.is_completed() for state in states.values())
        for name, spec in list(waiting.items()):
            if not failed and all(states.get(up) is not None for up in spec.after):
                running[name] = dvc_stage.with_options(
                    name=name,
                    retries=spec.retries,
                    retry_delay_seconds=spec.retry_delay_seconds,
                ).submit(project, name, force)
                del waiting[name]
        if not running:
            break
        done = next(as_completed(list(running.values())))
        name = next(key for key, future in running.items() if future is done)
        done.wait()  # sets the future's final state (its .state is the API's view before)
        states[name] = running.pop(name).state
    for name in order:
        state = states.get(name)
        if state is not None and not state.is_completed():
            return Failed(message=f"{name}: {state.message}")
    return [states[name].result() for name in order]


def release_steps(project: str, force: bool) -> list[StageOutcome | State]:
    """Gate and register; skipped (and said so) when this model is already registered."""
    version = None if force else registered_version(ProjectPaths(Path(project)))
    if version is not None:
        get_run_logger().info("model already registered as version %s: gate skipped", version)
        done = {"version": version, "new": False, "alias": None}
        return [StageOutcome("gate", False, 0.0), StageOutcome("register", False, 0.0, done)]
    outcomes: list[StageOutcome | State] = []
    for step in RELEASE:
        state = side_effect.with_options(name=step)(project, [step], return_state=True)
        if state.is_failed():
            return [*outcomes, Failed(message=f"{step}: {state.message}")]
        outcomes.append(state.result())
    return outcomes
