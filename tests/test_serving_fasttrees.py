"""The serving runtime of gradient-boosted trees (mlpipe/serving/fasttrees.py) gives
scikit-learn's probabilities (issue 13 item 5: a compiled runtime only with a parity test
to 1e-6): missing values, categories unseen in training, missing categories, one row or
many. benchmarks/serving.py checks it again over the whole holdout of the example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipe.serving.fasttrees import fast_model


def _data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["a", "b", "c", "d", "e", None], rows).astype(object),
            "tier": rng.choice(["x", "y", "z"], rows).astype(object),
            "size": rng.normal(size=rows),
            "age": rng.integers(0, 40, rows).astype(float),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "size"] = np.nan
    return frame


def _pipeline(max_categories: int | None = None):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=max_categories,
        dtype=np.float64,
    )
    preprocess = ColumnTransformer(
        [("categorical", encode, ["city", "tier"]), ("numeric", "passthrough", ["size", "age"])],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    trees = HistGradientBoostingClassifier(
        max_iter=60, categorical_features=["city", "tier"], random_state=0
    )
    return Pipeline([("preprocess", preprocess), ("classifier", trees)])


@pytest.mark.parametrize("max_categories", [None, 250])
def test_the_fast_runtime_gives_scikit_learns_probabilities(max_categories):
    train = _data(3000, 0)
    label = ((train["city"].isin(["a", "b"])) ^ (train["size"].fillna(0) > 0.3)).astype(int)
    model = _pipeline(max_categories).fit(train, label)
    fast = fast_model(model)
    assert fast is not None
    test = _data(400, 1)
    test.loc[::7, "city"] = "never seen"
    test.loc[::11, "tier"] = None
    expected = model.predict_proba(test)
    np.testing.assert_allclose(fast.predict_proba(test.head(64)), expected[:64], atol=1e-6)
    for i in range(0, 400, 37):
        np.testing.assert_allclose(fast.predict_proba(test.iloc[[i]]), expected[[i]], atol=1e-6)
    np.testing.assert_allclose(fast.predict_proba(test), expected, atol=1e-6)  # via sklearn


def test_other_models_are_served_as_they_are():
    from sklearn.linear_model import LogisticRegression

    frame = _data(200, 2)[["size", "age"]].fillna(0)
    assert fast_model(LogisticRegression().fit(frame, frame["age"] > 20)) is None
