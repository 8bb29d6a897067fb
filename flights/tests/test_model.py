"""Unit tests of the model spec on tiny data (checklist I2) and reproducibility (I1)."""

from __future__ import annotations

import hashlib
import io

import joblib
import numpy as np
import pandas as pd
import pytest

from mlpipe.core.errors import DataError
from mlpipe.training.fit import fit

from ..model import BaselineParams, ModelParams, build_baseline, build_model

pytestmark = pytest.mark.checklist("I2")

KINDS = {"color": "categorical", "x": "numeric", "noise": "numeric"}
FEATURES = list(KINDS)


def learnable(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """The label depends on x and on the category; noise is noise."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], size=n)
    x = rng.normal(size=n)
    logit = 2.5 * x + np.where(color == "red", 1.5, -0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"color": color, "x": x, "noise": rng.normal(size=n), "y": y})


def small_params(**kw) -> ModelParams:
    return ModelParams(max_iter=30, min_samples_leaf=5, **kw)


def test_model_fits_and_outputs_valid_probabilities():
    data = learnable()
    model = fit(build_model(KINDS, small_params()), data, FEATURES, "y")
    proba = model.predict_proba(data[FEATURES])
    assert proba.shape == (len(data), 2)
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_model_beats_a_constant_predictor_on_held_out_data():
    from sklearn.metrics import log_loss, roc_auc_score

    train, test = learnable(seed=1), learnable(seed=2)
    model = fit(build_model(KINDS, small_params()), train, FEATURES, "y")
    proba = model.predict_proba(test[FEATURES])[:, 1]
    constant = np.full(len(test), train["y"].mean())
    assert roc_auc_score(test["y"], proba) > 0.75
    assert log_loss(test["y"], proba) < log_loss(test["y"], constant)


def test_model_handles_unseen_categories_and_missing_values():
    model = fit(build_model(KINDS, small_params()), learnable(), FEATURES, "y")
    odd = pd.DataFrame({"color": ["purple", None], "x": [np.nan, 0.3], "noise": [0.0, np.nan]})
    proba = model.predict_proba(odd)[:, 1]
    assert np.isfinite(proba).all()


def test_baseline_fits_on_its_few_features():
    data = learnable()
    baseline = fit(build_baseline(KINDS, BaselineParams(features=["x"])), data, ["x"], "y")
    proba = baseline.predict_proba(data[["x"]])[:, 1]
    assert ((proba > 0) & (proba < 1)).all()
    with_category = build_baseline(KINDS, BaselineParams(features=["color", "x"]))
    fit(with_category, data, ["color", "x"], "y")
    assert np.isfinite(
        with_category.predict_proba(pd.DataFrame({"color": ["new"], "x": [0.0]}))
    ).all()


def test_fit_refuses_single_class_or_empty_training_data():
    data = learnable()
    with pytest.raises(DataError, match="single class"):
        fit(build_model(KINDS, small_params()), data.assign(y=1), FEATURES, "y")
    with pytest.raises(DataError, match="no rows"):
        fit(build_model(KINDS, small_params()), data.iloc[:0], FEATURES, "y")


def _bytes(model) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.mark.checklist("I1")
def test_training_twice_gives_the_same_model():
    """Same code, data and params: same predictions and the same bytes (checklist I1)."""
    data = learnable(n=2000)
    first = fit(build_model(KINDS, small_params()), data, FEATURES, "y")
    second = fit(build_model(KINDS, small_params()), data, FEATURES, "y")
    np.testing.assert_array_equal(
        first.predict_proba(data[FEATURES]), second.predict_proba(data[FEATURES])
    )
    assert hashlib.sha256(_bytes(first)).digest() == hashlib.sha256(_bytes(second)).digest()


def test_seed_is_used():
    """A different seed is allowed to change the model; the spec must pass it through."""
    model = build_model(KINDS, small_params(random_state=7))
    assert model.named_steps["classifier"].random_state == 7
