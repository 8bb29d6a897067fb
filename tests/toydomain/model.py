"""The toy model spec: small gradient-boosted trees, and a one-feature logistic baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_iter: int = Field(30, ge=1)
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_leaf_nodes: int = Field(15, ge=2)
    random_state: int = 0


class BaselineParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str] = Field(min_length=1)


def build_model(kinds: Mapping[str, str], params: ModelParams) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    preprocess = ColumnTransformer(
        [("categorical", encode, categorical), ("numeric", "passthrough", numeric)],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    classifier = HistGradientBoostingClassifier(
        max_iter=params.max_iter,
        learning_rate=params.learning_rate,
        max_leaf_nodes=params.max_leaf_nodes,
        categorical_features=categorical or None,
        early_stopping=False,
        random_state=params.random_state,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def build_baseline(kinds: Mapping[str, str], params: BaselineParams) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(SimpleImputer(strategy="median"), LogisticRegression())
