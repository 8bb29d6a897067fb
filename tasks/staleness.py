"""staleness: how fast does a model go stale? (checklist M4)

Trains the model spec on successive windows (months up to k, for each k declared) and
scores every later month up to the end of the test window, never the holdout. Quality
against model age gives the curve; the largest age whose mean quality stays within
``tolerance`` of the one-month-old model is the maximum allowed age, which monitoring
then enforces on the serving model (Mo4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlpipe.context import StageContext
from mlpipe.errors import ConfigError
from mlpipe.features import FeatureKind
from mlpipe.io import atomic_path, read_parquet, write_json
from tasks.featurize import SPLIT
from tasks.train import build_model, fit


def staleness_curve(
    table: pd.DataFrame,
    features: list[str],
    kinds: dict[str, FeatureKind],
    label: str,
    column: str,
    train_ends: list[int],
    last_month: int,
    model_params: Any,
) -> pd.DataFrame:
    """One row per (training end, scored month): age in months and ROC AUC."""
    rows = []
    for end in train_ends:
        train = table.loc[table[column] <= end]
        model = fit(build_model(kinds, model_params), train, features, label)
        for month in range(end + 1, last_month + 1):
            scored = table.loc[table[column] == month]
            if scored[label].nunique() < 2:
                continue
            proba = model.predict_proba(scored[features])[:, 1]
            rows.append(
                {
                    "train_end": end,
                    "month": month,
                    "age": month - end,
                    "rows": len(scored),
                    "roc_auc": round(float(roc_auc_score(scored[label], proba)), 6),
                }
            )
    return pd.DataFrame(rows)


def max_allowed_age(curve: pd.DataFrame, tolerance: float) -> int:
    """Largest age whose mean ROC AUC is within ``tolerance`` of the youngest age's."""
    by_age = curve.groupby("age")["roc_auc"].mean().sort_index()
    floor = by_age.iloc[0] - tolerance
    allowed = by_age.index[0]
    for age, auc in by_age.items():
        if auc < floor:
            break
        allowed = age
    return int(allowed)


def plot(curve: pd.DataFrame, max_age: int, tolerance: float, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_age = curve.groupby("age")["roc_auc"].mean()
    fig, ax = plt.subplots(figsize=(6, 4))
    for end, part in curve.groupby("train_end"):
        ax.plot(part["age"], part["roc_auc"], marker=".", alpha=0.4, label=f"trained to {end}")
    ax.plot(by_age.index, by_age.values, color="black", linewidth=2, label="mean")
    ax.axhline(by_age.iloc[0] - tolerance, color="red", linestyle=":", label="tolerance")
    ax.axvline(max_age, color="red", linestyle="--", label=f"max age {max_age}")
    ax.set(xlabel="model age (months)", ylabel="ROC AUC", title="Quality against model age")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def run(ctx: StageContext) -> dict[str, Any]:
    params, domain = ctx.params, ctx.domain
    study = params.staleness
    if study is None:
        raise ConfigError("params.yaml has no staleness section for the staleness stage")
    table = read_parquet(ctx.paths.features)
    table = table.loc[table[SPLIT] != "holdout"]
    last_month = int(params.split.test[1])
    curve = staleness_curve(
        table,
        params.features,
        domain.features.kinds(params.features),
        domain.LABEL,
        params.split.column,
        study.train_ends,
        last_month,
        params.model,
    )
    age = max_allowed_age(curve, study.tolerance)
    by_age = curve.groupby("age")["roc_auc"].agg(["mean", "count"]).reset_index()
    result = {
        "max_age_months": age,
        "tolerance": study.tolerance,
        "mean_roc_auc_by_age": {
            int(r.age): round(float(r["mean"]), 6) for _, r in by_age.iterrows()
        },
        "curve": curve.replace({np.nan: None}).to_dict(orient="records"),
    }
    write_json(ctx.paths.reports / "staleness.json", result)
    plot(curve, age, study.tolerance, ctx.paths.reports / "staleness.png")
    return {"max_age_months": age}
