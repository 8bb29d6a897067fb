"""evaluate: score the candidate and the baseline (threshold from the validation window,
metrics on the test window, per slice, importance), draw the plots, and record it all as
one MLflow run with the model's full lineage."""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np

from mlpipe.core import plots
from mlpipe.core.io import read_json, read_parquet, write_json
from mlpipe.core.lineage import lineage_tags
from mlpipe.core.project import SPLIT, Project
from mlpipe.core.tracking import (
    LoggedRun,
    TrainingRun,
    flatten,
    log_training_run,
    tracking_settings,
)
from mlpipe.training.evaluation import Evaluation, evaluate
from mlpipe.training.tuning import tuning_tags


def run(project: Project) -> dict[str, Any]:
    paths = project.paths
    table = read_parquet(paths.features)
    model = joblib.load(paths.models / "model.joblib")
    baseline = joblib.load(paths.models / "baseline.joblib")
    result = evaluate(
        model,
        baseline,
        table,
        project.features,
        project.baseline_features,
        project.domain.label,
        project.slices,
        project.params.evaluate,
    )
    reports = paths.reports
    write_json(
        reports / "metrics.json",
        {
            "threshold": round(result.threshold, 6),
            "model": result.model,
            "baseline": result.baseline,
            "valid": result.valid,
        },
    )
    write_json(reports / "slice_metrics.json", result.slices)
    write_json(reports / "importance.json", result.importance)
    draw(result, reports / "plots")
    logged = track(project, table, result, model)
    write_json(
        reports / "mlflow_run.json", {"run_id": logged.run_id, "model_uri": logged.model_uri}
    )
    return {
        "threshold": result.threshold,
        "model": result.model,
        "baseline": result.baseline,
        "mlflow_run_id": logged.run_id,
    }


def draw(result: Evaluation, folder: Any) -> None:
    """The plots, on finite predictions (NaN or inf ones are the gate's to report)."""
    curves = {
        name: (result.y_test[np.isfinite(p)], p[np.isfinite(p)])
        for name, p in (("model", result.p_model), ("baseline", result.p_baseline))
    }
    plots.roc(curves, folder / "roc.png")
    plots.precision_recall(curves, folder / "precision_recall.png")
    plots.calibration(curves, folder / "calibration.png")
    y, p = curves["model"]
    plots.confusion(y, (p >= result.threshold).astype(int), folder / "confusion.png")
    plots.importance(
        list(result.importance),
        np.array([v["mean"] for v in result.importance.values()]),
        np.array([v["std"] for v in result.importance.values()]),
        folder / "importance.png",
    )


def track(project: Project, table: Any, result: Evaluation, model: Any) -> LoggedRun:
    """Log this training run to MLflow with its lineage."""
    params, paths = project.params, project.paths
    model_meta = read_json(paths.models / "model.json")
    train_end = project.axis.positions(table.loc[table[SPLIT] == "train", project.time_column])
    tags = lineage_tags(
        paths.root,
        read_json(paths.raw_provenance),
        params.model_dump(mode="json"),
        {
            "sha256": model_meta["sha256"]["model"],
            "features": project.features,
            "threshold": result.threshold,
        },
        float(train_end.max()),
    )
    tuning = paths.reports / "tuning.json"
    tags.update(
        tuning_tags(
            read_json(tuning) if tuning.is_file() else None, project.model_params.model_dump()
        )
    )
    metrics = {
        **{f"test.{k}": v for k, v in result.model.items() if isinstance(v, int | float)},
        **{f"baseline.{k}": v for k, v in result.baseline.items() if isinstance(v, int | float)},
        **{f"valid.{k}": v for k, v in (result.valid or {}).items() if isinstance(v, int | float)},
        "threshold": result.threshold,
    }
    digest = tags["data.features.md5"] or model_meta["sha256"]["model"]
    source = f"{paths.features.relative_to(paths.root)}@{digest}"
    datasets = {
        window: (table.loc[table[SPLIT] == window], source, digest[:32])
        for window in params.split.windows()
        if window != "holdout"
    }
    artifacts = [
        *(paths.reports / "plots").glob("*.png"),
        paths.reports / "metrics.json",
        paths.reports / "slice_metrics.json",
        paths.reports / "importance.json",
        paths.reports / "validation" / "raw.html",
        paths.reports / "validation" / "features.html",
        paths.raw_provenance,
    ]
    run = TrainingRun(
        params=flatten("", params.model_dump(mode="json")),
        metrics=metrics,
        tags=tags,
        artifacts=[path for path in sorted(artifacts) if path.is_file()],
        datasets=datasets,
        model=model,
        input_example=table[project.features].head(5),
        model_info=model_meta,
    )
    return log_training_run(
        tracking_settings(paths), run, run_name=f"train-{tags['git.commit']}"[:40]
    )
