"""What a user sees when something fails: failures with a known cause as one clear
message (the file at fault and what to do), and no library traceback on the console
unless MLPIPE_DEBUG=1."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mlpipe.core.errors import DataError, PipelineError

DEBUG_VARIABLE = "MLPIPE_DEBUG"


def debugging() -> bool:
    return bool(os.environ.get(DEBUG_VARIABLE))


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _database_error(error: BaseException) -> bool:
    """SQLite's or SQLAlchemy's DatabaseError, without importing SQLAlchemy."""
    return any(
        cls.__name__ == "DatabaseError" and cls.__module__.startswith(("sqlite3", "sqlalchemy"))
        for cls in type(error).__mro__
    )


def _missing(path: Path, root: Path) -> DataError:
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return DataError(f"{path} is missing")
    if relative.parts[0] in ("data", "models", "reports"):
        return DataError(
            f"{relative} is missing: `dvc checkout {relative}` restores it from the DVC cache, "
            "or `mlpipe run` rebuilds it"
        )
    return DataError(f"{relative} is missing: restore it (git checkout, or from a backup)")


def known_failure(error: BaseException, root: Path) -> PipelineError | None:
    """``error`` as a clear pipeline error when its cause is one a user can act on: a
    corrupt MLflow store, a missing file. None for anything else."""
    from mlpipe.core.paths import ProjectPaths
    from mlpipe.core.tracking import check_store, tracking_settings

    for cause in _chain(error):
        if isinstance(cause, PipelineError):
            return cause
        if _database_error(cause):
            try:
                check_store(tracking_settings(ProjectPaths(root)).tracking_uri)
            except PipelineError as store:
                return store
        if isinstance(cause, FileNotFoundError) and cause.filename:
            return _missing(Path(str(cause.filename)), root)
    return None


# loggers whose INFO chatter is not news to a user of mlpipe ("Created temporary directory")
QUIET = ("great_expectations",)
# Prefect's run loggers: their failure records repeat what the final error block says
RUNS = ("prefect.task_runs", "prefect.flow_runs")


class _Console(logging.Filter):
    """What the console shows: no INFO chatter of QUIET loggers; unless MLPIPE_DEBUG=1, no
    traceback and no run failure records (the command ends with the failure's message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(QUIET) and record.levelno < logging.WARNING:
            return False
        if debugging():
            return True
        if record.name.startswith(RUNS) and record.levelno >= logging.ERROR:
            return False
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_console() -> None:
    """Apply ``_Console`` to Prefect's console handlers (call it after importing Prefect)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if type(handler).__name__ == "PrefectConsoleHandler" and not any(
                isinstance(f, _Console) for f in handler.filters
            ):
                handler.addFilter(_Console())
