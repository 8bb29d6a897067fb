"""The cheaper evaluation paths give the same numbers as the straightforward ones:
permutation importance scored in one prediction equals scikit-learn's
``permutation_importance``; the staleness curve scored in one prediction per model equals
scoring each period on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance

from mlpipe.core.metrics import auc
from mlpipe.core.params import EvaluateParams
from mlpipe.training.evaluation import feature_importance
from mlpipe.training.fit import fit, predict
from mlpipe.training.staleness import staleness_curve

FEATURES = ["signal", "weak", "noise", "flag"]


def table(rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=rows),
            "weak": rng.normal(size=rows),
            "noise": rng.normal(size=rows),
            "flag": rng.integers(0, 2, rows),
            "period": np.repeat(np.arange(1, 7), rows // 6),
        }
    )
    logit = 1.5 * frame["signal"] + 0.3 * frame["weak"] - 0.1 * frame["period"]
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame.set_index(pd.Index(rng.permutation(rows) * 3))  # an index that is no range


def model() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=20, random_state=0)


@pytest.mark.checklist("D2")
def test_importance_in_one_prediction_equals_scikit_learn() -> None:
    frame = table()
    fitted = fit(model(), frame, FEATURES, "label")
    params = EvaluateParams(importance_sample=400, importance_repeats=3, seed=7)
    ours = feature_importance(fitted, frame, FEATURES, "label", params)

    sample = frame.sample(n=400, random_state=7)
    reference = permutation_importance(
        fitted,
        sample[FEATURES],
        sample["label"],
        scoring=lambda m, x, y: auc(np.asarray(y), m.predict_proba(x)[:, 1]),
        n_repeats=3,
        random_state=7,
    )
    for name, mean, std in zip(
        FEATURES, reference.importances_mean, reference.importances_std, strict=True
    ):
        assert ours[name]["mean"] == round(float(mean), 6)
        assert ours[name]["std"] == round(float(std), 6)
    assert ours["signal"]["helps"]


def test_staleness_in_one_prediction_per_model_equals_period_by_period() -> None:
    frame = table()
    positions = frame["period"].astype(float)
    curve = staleness_curve(frame, positions, FEATURES, "label", [2.0, 3.0, 6.0], 5.0, model)

    expected = []
    for end in (2.0, 3.0):
        fitted = fit(model(), frame.loc[positions <= end], FEATURES, "label")
        for period in range(int(end) + 1, 6):
            scored = frame.loc[positions == period]
            quality = auc(scored["label"], predict(fitted, scored, FEATURES))
            expected.append((end, period, period - end, len(scored), round(quality, 6)))
    assert list(curve.itertuples(index=False, name=None)) == expected
