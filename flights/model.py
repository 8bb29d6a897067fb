"""The model spec of the worked example: the candidate, the simple baseline it must beat,
and the schemas of params.yaml's ``model`` and ``baseline`` sections.

EDIT HERE: any scikit-learn compatible estimator with ``predict_proba`` works; every seed
comes from params.yaml, so the same inputs always give the same model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MAX_CATEGORIES = 250


class ModelParams(BaseModel):
    """``model:`` in params.yaml: a histogram gradient-boosted tree classifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(0.1, gt=0, le=1)
    max_iter: int = Field(300, ge=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    random_state: int = 42


class BaselineParams(BaseModel):
    """``baseline:`` in params.yaml: logistic regression on a few declared features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str] = Field(min_length=1)
    C: float = Field(1.0, gt=0)


def _split_kinds(kinds: Mapping[str, str]) -> tuple[list[str], list[str]]:
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    return categorical, numeric


def build_model(kinds: Mapping[str, str], params: ModelParams) -> Any:
    """Gradient-boosted trees with native categorical support; unseen categories and
    missing values are routed as missing, so serving never fails on a new carrier."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

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


def build_baseline(kinds: Mapping[str, str], params: BaselineParams) -> Any:
    """Logistic regression on a few declared features: the model to beat."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
