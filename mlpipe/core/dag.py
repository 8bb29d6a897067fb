"""The pipeline DAG as DVC sees it (dvc.yaml), and a way to run one stage of it in this
process with DVC's own change detection and bookkeeping.

The Prefect flow uses this instead of a copy of the stage list: stage order, commands
and retry settings all come from dvc.yaml, and every stage it runs is committed to
dvc.lock exactly as ``dvc repro`` would, so a later ``dvc repro`` has nothing to do."""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpipe.core.errors import PipelineError

IN_PROCESS_PREFIX = ("mlpipe", "stage")

StageRunner = Callable[[list[str]], dict[str, Any]]


@dataclass(frozen=True)
class StageSpec:
    name: str
    cmd: str
    retries: int = 0
    retry_delay_seconds: float = 0
    after: tuple[str, ...] = ()  # the stages whose outputs this one reads

    @property
    def in_process_args(self) -> list[str] | None:
        """Arguments after ``mlpipe stage`` when the command is ours, else None."""
        argv = shlex.split(self.cmd)
        if tuple(argv[:2]) == IN_PROCESS_PREFIX and len(argv) > 2:
            return argv[2:]
        return None


@dataclass
class StageOutcome:
    name: str
    ran: bool
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)


def _cmd(stage: Any) -> str:
    return stage.cmd if isinstance(stage.cmd, str) else " && ".join(stage.cmd)


def plan(root: Path) -> list[StageSpec]:
    """Every stage of dvc.yaml, dependencies first (the order ``dvc repro`` uses), each
    with the stages it depends on (the others may run beside it)."""
    from dvc.repo.reproduce import get_active_graph, plan_repro

    with _repo(root) as repo:
        graph = get_active_graph(repo.index.graph)
        return [
            StageSpec(
                name=stage.addressing,
                cmd=_cmd(stage),
                retries=int((stage.meta or {}).get("retries", 0)),
                retry_delay_seconds=float((stage.meta or {}).get("retry_delay_seconds", 0)),
                after=tuple(sorted(up.addressing for up in graph.successors(stage) if up.cmd)),
            )
            for stage in plan_repro(graph)
            if stage.cmd
        ]


# DVC's repo objects are not thread-safe and dvc.lock is one file: every DVC step of this
# process (plan, change check, commit) holds this lock; the stages' own work does not, so
# independent stages can run side by side
_DVC = threading.Lock()


@contextmanager
def _repo(root: Path) -> Iterator[Any]:
    """The DVC repository at ``root``, locked (in this process and against other DVC
    processes) and quiet."""
    from dvc.repo import Repo, lock_repo

    with _DVC, chdir(root), quiet_dvc(), Repo(str(root)) as repo, lock_repo(repo):
        yield repo


def changed(root: Path) -> list[str]:
    """The stages ``dvc status`` reports changed (empty: ``dvc repro`` has nothing to do)."""
    with _repo(root) as repo:
        return sorted(repo.status())


def reproduce(root: Path, name: str, runner: StageRunner, force: bool = False) -> StageOutcome:
    """``dvc repro --single-item NAME``, running our own stage commands in this process.

    Unchanged stages are skipped; a stage that ran is saved to the DVC cache and
    dvc.lock. The change check and the commit hold the DVC lock, the stage's work does
    not (stages of one process may run concurrently). A command that is not
    ``mlpipe stage ...`` runs the way DVC runs it."""
    from dvc.exceptions import ReproductionError

    outcome = StageOutcome(name, ran=False, seconds=0.0)
    try:
        with _repo(root) as repo:
            stage = repo.stage.collect(name)[0]
            args = StageSpec(name, _cmd(stage)).in_process_args
            if args is None:
                outcome.ran = bool(repo.reproduce(name, single_item=True, force=force))
                return outcome
            if not force and not stage.changed():
                return outcome
    except ReproductionError as error:
        # the stage's own error, not DVC's "failed to reproduce" wrapper around it
        if isinstance(error.__cause__, PipelineError):
            raise error.__cause__ from None
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from error
        raise
    start = time.perf_counter()
    outcome.result = runner(args) or {}
    outcome.seconds = time.perf_counter() - start
    with _repo(root) as repo, repo.scm_context(quiet=True):
        stage = repo.stage.collect(name)[0]
        stage.save()
        stage.commit()
        stage.dump(update_pipeline=False)
    outcome.ran = True
    return outcome


@contextmanager
def quiet_dvc() -> Iterator[None]:
    """DVC's per-stage chatter ("Updating lock file", git hints) at warning level only."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
