"""train: fit the candidate model and the simple baseline on the training window.

The model spec (``build_model``, ``build_baseline``) is plain scikit-learn: a Pipeline of
preprocessing + estimator, every seed from params.yaml, so the same inputs always give
the same model."""

from __future__ import annotations

import resource
import time
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlpipe.config import BaselineParams, ModelParams
from mlpipe.context import StageContext
from mlpipe.errors import DataError
from mlpipe.features import FeatureKind
from mlpipe.io import atomic_path, file_sha256, read_parquet, write_json
from tasks.featurize import SPLIT

MAX_CATEGORIES = 250


def _split_kinds(kinds: dict[str, FeatureKind]) -> tuple[list[str], list[str]]:
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    return categorical, numeric


def build_model(kinds: dict[str, FeatureKind], params: ModelParams) -> Pipeline:
    """Gradient-boosted trees with native categorical support; unseen categories and
    missing values are routed as missing, so serving never fails on a new carrier."""
    categorical, numeric = _split_kinds(kinds)
    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=MAX_CATEGORIES,
        dtype=np.float64,
    )
    preprocess = ColumnTransformer(
        [("categorical", encode, categorical), ("numeric", "passthrough", numeric)],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    classifier = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=categorical or None,
        early_stopping=False,
        random_state=params.random_state,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def build_baseline(kinds: dict[str, FeatureKind], params: BaselineParams) -> Pipeline:
    """Logistic regression on a few declared features: the model to beat."""
    categorical, numeric = _split_kinds({name: kinds[name] for name in params.features})
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ]
    )
    return Pipeline(
        [("preprocess", preprocess), ("classifier", LogisticRegression(C=params.C, max_iter=1000))]
    )


def fit(model: Pipeline, frame: pd.DataFrame, features: list[str], label: str) -> Pipeline:
    if frame.empty:
        raise DataError("the training window has no rows: check split.train in params.yaml")
    if frame[label].nunique() < 2:
        raise DataError(f"the training window has a single class of {label!r}: nothing to learn")
    return model.fit(frame[features], frame[label].to_numpy())


def run(ctx: StageContext) -> dict[str, Any]:
    domain, params = ctx.domain, ctx.params
    table = read_parquet(ctx.paths.features)
    train = table.loc[table[SPLIT] == "train"]
    kinds = domain.features.kinds(params.features)

    start = time.perf_counter()
    model = fit(build_model(kinds, params.model), train, params.features, domain.LABEL)
    model_seconds = time.perf_counter() - start
    start = time.perf_counter()
    baseline = fit(
        build_baseline(kinds, params.baseline), train, params.baseline.features, domain.LABEL
    )
    baseline_seconds = time.perf_counter() - start

    artifacts = {"model": model, "baseline": baseline}
    for name, fitted in artifacts.items():
        with atomic_path(ctx.paths.models / f"{name}.joblib") as tmp:
            joblib.dump(fitted, tmp)
    hashes = {name: file_sha256(ctx.paths.models / f"{name}.joblib") for name in artifacts}
    write_json(
        ctx.paths.models / "model.json",
        {
            "features": params.features,
            "feature_kinds": kinds,
            "baseline_features": params.baseline.features,
            "label": domain.LABEL,
            "train_rows": len(train),
            "train_label_rate": round(float(train[domain.LABEL].mean()), 6),
            "model_params": params.model.model_dump(),
            "sha256": hashes,
        },
    )
    timings = {
        "model_fit_seconds": round(model_seconds, 3),
        "baseline_fit_seconds": round(baseline_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    write_json(ctx.paths.reports / "train_metrics.json", timings)
    return {"train_rows": len(train), "model_sha256": hashes["model"], **timings}
