"""Hyperparameter tuning (checklist M3): trials run in parallel as Prefect tasks on Dask
(prefect-dask): a local cluster by default, an existing one by address.

Every trial trains the domain's model spec on the training window and is scored on the
validation window (mlpipe.training.tuning); each becomes an MLflow child run under one
tuning run, and the search (its id, trials and best values) goes to reports/tuning.json.
`mlpipe tune --apply` writes the best values into params.yaml and records when and from
which search, so the registered version can say where its params came from."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from prefect import flow, task

from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import find_root

if TYPE_CHECKING:
    import pandas as pd


@lru_cache(maxsize=2)
def _windows(root: str, stamp: tuple[int, ...]) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """The project and its training and validation windows, read once per worker process
    (``stamp``: size and modification time of params.yaml and the feature table, so a
    changed project is read again)."""
    from mlpipe.core.project import Project

    project = Project.load(Path(root))
    return project, project.feature_table("train"), project.feature_table("valid")


@task
def run_trial(root: str, index: int, values: dict[str, Any]) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from mlpipe.core.paths import ProjectPaths
    from mlpipe.training import tuning

    paths = ProjectPaths(Path(root))
    stamp = tuple(
        value
        for path in (paths.params, paths.features)
        for value in (path.stat().st_size, path.stat().st_mtime_ns)
    )
    project, train, valid = _windows(root, stamp)
    domain = project.domain
    params = domain.model.params(**{**project.model_params.model_dump(), **values})
    kinds = domain.features.kinds(project.features)
    with threadpool_limits(1):  # one trial per Dask worker process, one core each
        scored = tuning.run_trial(
            lambda: domain.model.build(kinds, params),
            train,
            valid,
            project.features,
            domain.label,
        )
    return {"trial": index, "params": values, **scored}


def check_scheduler(address: str) -> None:
    """Fail fast and clearly when an external Dask scheduler cannot be reached."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 8786), timeout=3):
            return
    except OSError as error:
        raise PipelineError(f"the Dask scheduler at {address} is unreachable: {error}") from None


def search(root: str) -> dict[str, Any]:
    from mlpipe.core.errors import ConfigError
    from mlpipe.core.io import read_json, write_json
    from mlpipe.core.lineage import dvc_lock_hashes
    from mlpipe.core.project import Project
    from mlpipe.core.tracking import log_search, tracking_settings
    from mlpipe.training.tuning import longest_first, sample_trials, search_id

    project = Project.load(Path(root))
    tuning = project.params.tuning
    if tuning is None:
        raise ConfigError("params.yaml has no tuning section")
    tuning.check_space(project.domain.model.params, project.params.model)
    if not project.paths.features.is_file():
        raise ConfigError("no feature table yet: run `mlpipe run` before tuning")
    trials = sample_trials(tuning.space, tuning.trials, tuning.seed)
    path = project.paths.reports / "tuning.json"
    data = dvc_lock_hashes(project.paths.root).get("data/features/features.parquet", "")
    start = datetime.now(UTC)
    # longest trials first (by their time in the last search, when it tried them), so no
    # worker is left with a long trial while the others idle at the end
    order = longest_first(trials, read_json(path) if path.is_file() else None)
    futures = [run_trial.submit(root, i, trials[i]) for i in order]
    results = sorted((future.result() for future in futures), key=lambda r: r["trial"])
    wall = (datetime.now(UTC) - start).total_seconds()
    best = max(results, key=lambda r: (r["valid_roc_auc"], -r["trial"]))
    identifier = search_id(tuning.space, tuning.trials, tuning.seed, data)
    run_id = log_search(tracking_settings(project.paths), identifier, results, best)
    previous = read_json(path) if path.is_file() else {}
    summary = {
        "search_id": identifier,
        "searched_at": start.isoformat(timespec="seconds"),
        "best": best,
        "trials": results,
        "wall_seconds": round(wall, 2),
        "mlflow_run_id": run_id,
        "applied": previous.get("applied"),  # what params.yaml holds stays on record
    }
    write_json(path, summary)
    return summary


def apply_best(root: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Write the best values into params.yaml and record which search they came from."""
    from mlpipe.core.io import write_json
    from mlpipe.core.params import set_section_values
    from mlpipe.core.paths import ProjectPaths

    paths = ProjectPaths(root)
    set_section_values(paths.params, "model", summary["best"]["params"])
    applied = {
        "search_id": summary["search_id"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "values": summary["best"]["params"],
    }
    write_json(paths.reports / "tuning.json", {**summary, "applied": applied})
    return applied


@flow(name="tuning")
def tuning(root: str | None = None, workers: int = 2, address: str | None = None) -> dict[str, Any]:
    """Run the search on a local Dask cluster of ``workers`` processes, or at ``address``."""
    from prefect_dask import DaskTaskRunner

    project = str(Path(root).resolve()) if root else str(find_root())
    if address:
        check_scheduler(address)
        runner = DaskTaskRunner(address=address)
    else:
        runner = DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    return on_dask.with_options(task_runner=runner)(project)


@flow(name="tuning-trials")
def on_dask(root: str) -> dict[str, Any]:
    return search(root)
