"""Thin adapter over MLflow (with mlpipe.core.registry, the only modules that import it):
one training run with params, metrics, plots, dataset
inputs, lineage tags and the model (signature, input example, explicit requirements)."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlpipe.core.configs import TrackingConfig
from mlpipe.core.errors import DataError
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings

if TYPE_CHECKING:  # pandas costs a second to import: not for the nothing-to-do check
    import pandas as pd

MODEL_REQUIREMENTS = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")


@dataclass(frozen=True)
class TrackingSettings:
    tracking_uri: str
    artifact_location: str
    experiment: str


def tracking_settings(paths: ProjectPaths) -> TrackingSettings:
    config = load_settings(TrackingConfig, paths.configs / "tracking.yaml")
    uri = os.environ.get("MLFLOW_TRACKING_URI") or config.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(paths.root / uri[len(prefix) :])
    artifacts = Path(config.artifact_location)
    if not artifacts.is_absolute():
        artifacts = paths.root / artifacts
    return TrackingSettings(uri, artifacts.as_uri(), config.experiment)


SQLITE_PREFIX = "sqlite:///"
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_store(tracking_uri: str) -> Path | None:
    """The SQLite file of a ``sqlite:///`` store, None for a tracking server."""
    return (
        Path(tracking_uri[len(SQLITE_PREFIX) :]) if tracking_uri.startswith(SQLITE_PREFIX) else None
    )


def check_store(tracking_uri: str) -> None:
    """A corrupt or unreadable SQLite store (header overwritten, truncated) as one message
    naming the file, before MLflow fails on it somewhere deep with a bare database error."""
    path = sqlite_store(tracking_uri)
    if path is None or not path.is_file():
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            problem = "it is not an SQLite database (its header is overwritten)"
        else:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
                found = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            problem = "" if found == "ok" else f"SQLite's check found: {found}"
    except sqlite3.DatabaseError as error:
        problem = f"SQLite cannot read it ({error})"
    except OSError as error:
        problem = f"it cannot be read ({error})"
    if problem:
        raise DataError(
            f"the MLflow store {path} is corrupt or unreadable: {problem}. It holds the runs "
            "and the model registry: restore it from a backup (moving it aside starts an "
            "empty registry)"
        )


class _Drop(logging.Filter):
    """Drops the records of one logger whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


# MLflow's notices on every model logged, known and accepted here: the pickle format is
# what serving loads (and the registry's artifact store is the project's own); pip is not
# in a uv environment, and the requirements are pinned explicitly (pip_requirements)
MLFLOW_NOTICES = {
    "mlflow.sklearn": ("Saving scikit-learn models in the pickle",),
    "mlflow.utils.environment": ("Failed to resolve installed pip version",),
    "mlflow.utils.uv_utils": ("Detected uv project",),
}


@contextmanager
def _quiet_notices() -> Iterator[None]:
    filters = {name: _Drop(prefixes) for name, prefixes in MLFLOW_NOTICES.items()}
    for name, notice in filters.items():
        logging.getLogger(name).addFilter(notice)
    try:
        yield
    finally:
        for name, notice in filters.items():
            logging.getLogger(name).removeFilter(notice)


def point_mlflow_at(tracking_uri: str) -> None:
    """MLflow's store for this process, without MLflow's side effect of exporting it as
    MLFLOW_TRACKING_URI: that variable is the user's setting, and a leaked value would send
    the next project of this process (and its children) to this project's store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    check_store(tracking_uri)
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


def use_experiment(settings: TrackingSettings) -> str:
    import mlflow

    point_mlflow_at(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(
        settings.experiment, artifact_location=settings.artifact_location
    )


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested dicts as dotted keys (MLflow params and metrics are flat)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return flat
    return {prefix: value}


def pip_requirements() -> list[str]:
    """Pinned from the running environment: inferring them costs MLflow seconds."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in MODEL_REQUIREMENTS]


@dataclass
class TrainingRun:
    """Everything one training run records."""

    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[Path]
    datasets: dict[str, tuple[pd.DataFrame, str, str]] = field(default_factory=dict)
    model: Any = None
    input_example: pd.DataFrame | None = None
    model_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_uri: str | None


def log_training_run(settings: TrackingSettings, run: TrainingRun, run_name: str) -> LoggedRun:
    """Log ``run`` as one MLflow run; returns its id and the logged model's URI."""
    import mlflow
    from mlflow.models import infer_signature

    experiment_id = use_experiment(settings)
    with (
        warnings.catch_warnings(),
        _quiet_notices(),
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active,
    ):
        warnings.simplefilter("ignore", UserWarning)
        mlflow.log_params({k: str(v)[:500] for k, v in run.params.items()})
        mlflow.log_metrics({k: float(v) for k, v in run.metrics.items() if v is not None})
        mlflow.set_tags(run.tags)
        for context, (frame, source, digest) in run.datasets.items():
            dataset = mlflow.data.from_pandas(frame, source=source, name=context, digest=digest)
            mlflow.log_input(dataset, context=context)
        for path in run.artifacts:
            mlflow.log_artifact(str(path), artifact_path=path.parent.name)
        if run.model_info:
            mlflow.log_text(yaml.safe_dump(run.model_info, sort_keys=True), "model_info.yaml")
        model_uri = None
        if run.model is not None and run.input_example is not None:
            proba = run.model.predict_proba(run.input_example)[:, 1]
            info = mlflow.sklearn.log_model(
                sk_model=run.model,
                name="model",
                signature=infer_signature(run.input_example, proba),
                input_example=run.input_example,
                pip_requirements=pip_requirements(),
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            )
            model_uri = info.model_uri
        return LoggedRun(active.info.run_id, model_uri)


def load_model(uri: str, tracking_uri: str | None = None) -> Any:
    """A logged or registered scikit-learn model, by MLflow URI; ``models:/`` URIs are
    looked up in the store at ``tracking_uri`` (default: MLflow's current one)."""
    if tracking_uri:
        point_mlflow_at(tracking_uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.sklearn.load_model(uri)
    except (MlflowException, OSError) as error:
        raise DataError(
            f"the model {uri} cannot be loaded from {_artifact_location(uri)}: {error}. Its "
            "files are missing or damaged: restore the artifact store from a backup, or make "
            "a version whose files exist the champion (`mlpipe rollback --to N`)"
        ) from None


def _artifact_location(uri: str) -> str:
    """Where a model's files live (a registry URI resolved to its artifact store)."""
    if not uri.startswith("models:/"):
        return uri
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    try:
        return ModelsArtifactRepository.get_underlying_uri(uri)
    except MlflowException:
        return uri


def log_metrics_run(
    settings: TrackingSettings,
    experiment: str,
    run_name: str,
    metrics: dict[str, float],
    params: dict[str, Any] | None = None,
) -> str:
    """A small run of metrics (monitoring, tuning summaries) in its own experiment."""
    import mlflow

    experiment_id = use_experiment(
        TrackingSettings(settings.tracking_uri, settings.artifact_location, experiment)
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        if params:
            mlflow.log_params(params)
        mlflow.log_metrics(metrics)
    return run.info.run_id


def log_search(
    settings: TrackingSettings,
    search_id: str,
    trials: list[dict[str, Any]],
    best: dict[str, Any],
) -> str:
    """A hyperparameter search: one parent run (the best values) with a child run per
    trial (its params, validation ROC AUC and fit time)."""
    import mlflow

    experiment = use_experiment(settings)
    with mlflow.start_run(experiment_id=experiment, run_name=f"tuning-{search_id}") as parent:
        mlflow.set_tag("tuning.search_id", search_id)
        mlflow.log_metric("best.valid_roc_auc", best["valid_roc_auc"])
        mlflow.log_params({f"best.{k}": v for k, v in best["params"].items()})
        for trial in trials:
            with mlflow.start_run(
                experiment_id=experiment, nested=True, run_name=f"trial-{trial['trial']}"
            ):
                mlflow.log_params(trial["params"])
                mlflow.log_metrics(
                    {"valid_roc_auc": trial["valid_roc_auc"], "fit_seconds": trial["seconds"]}
                )
        return parent.info.run_id
