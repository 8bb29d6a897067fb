"""evaluate: score the candidate and the baseline on the test window, overall and per
slice; choose the decision threshold on the validation window; draw the plots; record
it all as one MLflow run."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from mlpipe import plots
from mlpipe.config import EvaluateParams
from mlpipe.context import StageContext
from mlpipe.errors import DataError
from mlpipe.io import read_json, read_parquet, write_json
from mlpipe.lineage import code_version, dvc_lock_hashes, environment, prefect_flow_run_id
from mlpipe.metrics import binary_metrics, f1_optimal_threshold, rounded, slice_metrics
from mlpipe.tracking import LoggedRun, TrainingRun, flatten, log_training_run, tracking_settings
from tasks.featurize import SPLIT


def predict(model: Pipeline, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return model.predict_proba(frame[features])[:, 1]


def choose_threshold(how: str | float, y_valid: np.ndarray, p_valid: np.ndarray) -> float:
    return f1_optimal_threshold(y_valid, p_valid) if how == "f1" else float(how)


@dataclass
class Evaluation:
    threshold: float
    model: dict[str, Any]
    baseline: dict[str, Any]
    valid: dict[str, Any]
    slices: list[dict[str, Any]]
    importance: dict[str, dict[str, float]]
    y_test: np.ndarray
    p_model: np.ndarray
    p_baseline: np.ndarray


def feature_importance(
    model: Pipeline, frame: pd.DataFrame, features: list[str], label: str, params: EvaluateParams
) -> dict[str, dict[str, float]]:
    """Permutation importance (drop in ROC AUC) on a fixed sample: which features help (D2)."""
    sample = frame.sample(n=min(params.importance_sample, len(frame)), random_state=params.seed)
    result = permutation_importance(
        model,
        sample[features],
        sample[label],
        scoring="roc_auc",
        n_repeats=params.importance_repeats,
        random_state=params.seed,
        n_jobs=1,
    )
    return {
        name: {
            "mean": round(float(mean), 6),
            "std": round(float(std), 6),
            "helps": bool(mean > 0),
        }
        for name, mean, std in zip(
            features, result.importances_mean, result.importances_std, strict=True
        )
    }


def evaluate(
    model: Pipeline,
    baseline: Pipeline,
    table: pd.DataFrame,
    features: list[str],
    baseline_features: list[str],
    label: str,
    params: EvaluateParams,
) -> Evaluation:
    valid = table.loc[table[SPLIT] == "valid"]
    test = table.loc[table[SPLIT] == "test"]
    for name, part in (("valid", valid), ("test", test)):
        if part[label].nunique() < 2:
            raise DataError(f"the {name} window needs both classes of {label!r} to evaluate")
    p_valid = predict(model, valid, features)
    threshold = choose_threshold(params.threshold, valid[label].to_numpy(), p_valid)
    y_test = test[label].to_numpy()
    p_model = predict(model, test, features)
    p_baseline = predict(baseline, test, baseline_features)
    return Evaluation(
        threshold=threshold,
        model=rounded(binary_metrics(y_test, p_model, threshold)),
        baseline=rounded(binary_metrics(y_test, p_baseline, threshold)),
        valid=rounded(binary_metrics(valid[label].to_numpy(), p_valid, threshold)),
        slices=[
            rounded(row)
            for row in slice_metrics(
                test, y_test, p_model, threshold, params.slices, params.min_slice_size
            )
        ],
        importance=feature_importance(model, test, features, label, params),
        y_test=y_test,
        p_model=p_model,
        p_baseline=p_baseline,
    )


def run(ctx: StageContext) -> dict[str, Any]:
    domain, params, paths = ctx.domain, ctx.params, ctx.paths
    table = read_parquet(paths.features)
    model = joblib.load(paths.models / "model.joblib")
    baseline = joblib.load(paths.models / "baseline.joblib")
    result = evaluate(
        model,
        baseline,
        table,
        params.features,
        params.baseline.features,
        domain.LABEL,
        params.evaluate,
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
    curves = {
        "model": (result.y_test, result.p_model),
        "baseline": (result.y_test, result.p_baseline),
    }
    figures = reports / "plots"
    plots.roc(curves, figures / "roc.png")
    plots.precision_recall(curves, figures / "precision_recall.png")
    plots.calibration(curves, figures / "calibration.png")
    plots.confusion(
        result.y_test, (result.p_model >= result.threshold).astype(int), figures / "confusion.png"
    )
    plots.importance(
        list(result.importance),
        np.array([v["mean"] for v in result.importance.values()]),
        np.array([v["std"] for v in result.importance.values()]),
        figures / "importance.png",
    )
    logged = track(ctx, table, result, model)
    write_json(
        reports / "mlflow_run.json", {"run_id": logged.run_id, "model_uri": logged.model_uri}
    )
    return {
        "threshold": result.threshold,
        "model": result.model,
        "baseline": result.baseline,
        "mlflow_run_id": logged.run_id,
    }


def track(ctx: StageContext, table: pd.DataFrame, result: Evaluation, model: Pipeline) -> LoggedRun:
    """Log this training run to MLflow with its lineage."""
    params, paths = ctx.params, ctx.paths
    hashes = dvc_lock_hashes(paths.root)
    code = code_version(paths.root)
    env = environment(paths.root)
    provenance = read_json(paths.raw_provenance)
    model_meta = read_json(paths.models / "model.json")
    tags = {
        "git.commit": str(code["commit"]),
        "git.dirty": str(code["dirty"]),
        "git.diff_sha256": str(code["diff_sha256"]),
        "data.raw.md5": hashes.get("data/raw", ""),
        "data.features.md5": hashes.get("data/features/features.parquet", ""),
        "data.source": str(provenance.get("source")),
        "data.source_version": str(provenance.get("package_version")),
        "data.extracted_by_commit": str((provenance.get("extracted_by") or {}).get("commit")),
        "model.sha256": model_meta["sha256"]["model"],
        "env.python": env["python"],
        "env.lock_sha256": str(env["lock_sha256"]),
        "prefect.flow_run_id": str(prefect_flow_run_id()),
        "command": shlex.join(sys.argv) if sys.argv else "",
        "reproduce": "git checkout {} && dvc repro".format(code["commit"]),
    }
    tags.update({f"env.{name}": str(version) for name, version in env["packages"].items()})
    metrics = {
        **{f"test.{k}": v for k, v in result.model.items() if isinstance(v, int | float)},
        **{f"baseline.{k}": v for k, v in result.baseline.items() if isinstance(v, int | float)},
        **{f"valid.{k}": v for k, v in result.valid.items() if isinstance(v, int | float)},
        "threshold": result.threshold,
    }
    features_digest = hashes.get("data/features/features.parquet") or model_meta["sha256"]["model"]
    source = f"{paths.features.relative_to(paths.root)}@{features_digest}"
    datasets = {
        context: (table.loc[table[SPLIT] == context], source, features_digest[:32])
        for context in ("train", "valid", "test")
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
        input_example=table[params.features].head(5),
        model_info=model_meta,
    )
    return log_training_run(
        tracking_settings(paths), run, run_name=f"train-{code['commit'] or 'nogit'}"[:40]
    )
