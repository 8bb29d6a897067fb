"""Hyperparameter tuning (checklist M3): trials run in parallel as Prefect tasks on Dask
(prefect-dask): a local cluster by default, an existing one by address.

Every trial trains on the training window and is scored on the validation window (time
order kept, never random folds); each becomes an MLflow child run under one tuning run,
and the search and its best values go to reports/tuning.json. `mlpipe tune --apply`
writes the best values into params.yaml, so training picks them up through DVC."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prefect import flow, task

from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import find_root


def sample_trials(space: dict[str, list[Any]], trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct points of the grid, in a seeded random order."""
    grid: list[dict[str, Any]] = [{}]
    for name in sorted(space):
        grid = [{**point, name: value} for point in grid for value in space[name]]
    random.Random(seed).shuffle(grid)
    return grid[:trials]


@task
def run_trial(root: str, index: int, values: dict[str, Any]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from mlpipe.core.io import read_parquet
    from mlpipe.core.params import ModelParams
    from mlpipe.core.project import Project
    from tasks.featurize import SPLIT
    from tasks.train import build_model, fit

    ctx = Project.load(Path(root))
    params, domain = ctx.params, ctx.domain
    table = read_parquet(ctx.paths.features)
    train, valid = table.loc[table[SPLIT] == "train"], table.loc[table[SPLIT] == "valid"]
    spec = ModelParams(**{**params.model.model_dump(), **values})
    start = time.perf_counter()
    with threadpool_limits(1):  # one trial per Dask worker process, one core each
        model = fit(
            build_model(domain.features.kinds(params.features), spec),
            train,
            params.features,
            domain.LABEL,
        )
        proba = model.predict_proba(valid[params.features])[:, 1]
    return {
        "trial": index,
        "params": values,
        "seconds": round(time.perf_counter() - start, 3),
        "valid_roc_auc": round(float(roc_auc_score(valid[domain.LABEL], proba)), 6),
    }


def check_scheduler(address: str) -> None:
    """Fail fast and clearly when an external Dask scheduler cannot be reached."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 8786), timeout=3):
            return
    except OSError as error:
        raise PipelineError(f"the Dask scheduler at {address} is unreachable: {error}") from None


def log_search(root: Path, results: list[dict[str, Any]], best: dict[str, Any]) -> str:
    import mlflow

    from mlpipe.core.paths import ProjectPaths
    from mlpipe.core.tracking import tracking_settings, use_experiment

    experiment = use_experiment(tracking_settings(ProjectPaths(root)))
    with mlflow.start_run(experiment_id=experiment, run_name="tuning") as parent:
        mlflow.log_metric("best.valid_roc_auc", best["valid_roc_auc"])
        mlflow.log_params({f"best.{k}": v for k, v in best["params"].items()})
        for result in results:
            with mlflow.start_run(
                experiment_id=experiment, nested=True, run_name=f"trial-{result['trial']}"
            ):
                mlflow.log_params(result["params"])
                mlflow.log_metrics(
                    {"valid_roc_auc": result["valid_roc_auc"], "fit_seconds": result["seconds"]}
                )
        return parent.info.run_id


def search(root: str) -> dict[str, Any]:
    from mlpipe.core.errors import ConfigError
    from mlpipe.core.io import write_json
    from mlpipe.core.project import Project

    ctx = Project.load(Path(root))
    tuning = ctx.params.tuning
    if tuning is None:
        raise ConfigError("params.yaml has no tuning section")
    trials = sample_trials(tuning.space, tuning.trials, tuning.seed)
    start = time.perf_counter()
    futures = [run_trial.submit(root, i, values) for i, values in enumerate(trials)]
    results = sorted((future.result() for future in futures), key=lambda r: r["trial"])
    wall = time.perf_counter() - start
    best = max(results, key=lambda r: (r["valid_roc_auc"], -r["trial"]))
    run_id = log_search(Path(root), results, best)
    summary = {
        "best": best,
        "trials": results,
        "wall_seconds": round(wall, 2),
        "mlflow_run_id": run_id,
    }
    write_json(ctx.paths.reports / "tuning.json", summary)
    return summary


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
