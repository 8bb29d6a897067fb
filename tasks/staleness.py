"""staleness: the model-age study (checklist M4) on the windows before the holdout; its
maximum allowed age is what monitoring enforces on the serving model (Mo4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlpipe.core import plots
from mlpipe.core.errors import ConfigError, DataError
from mlpipe.core.io import read_parquet, write_json
from mlpipe.core.project import SPLIT, Project
from mlpipe.training.staleness import max_allowed_age, staleness_curve


def run(project: Project) -> dict[str, Any]:
    study = project.params.staleness
    if study is None:
        raise ConfigError("params.yaml has no staleness section for the staleness stage")
    domain, axis = project.domain, project.axis
    table = read_parquet(project.paths.features)
    table = table.loc[table[SPLIT] != "holdout"].reset_index(drop=True)
    positions = axis.positions(table[project.time_column])
    last = project.params.split.test.bounds(axis)[1]
    kinds = domain.features.kinds(project.features)
    curve = staleness_curve(
        table,
        positions,
        project.features,
        domain.label,
        [axis.point(end) for end in study.train_ends],
        last,
        lambda: domain.model.build(kinds, project.model_params),
    )
    if curve.empty:
        raise DataError("the staleness study scored nothing: check staleness.train_ends")
    age = max_allowed_age(curve, study.tolerance)
    by_age = curve.groupby("age")["roc_auc"].agg(["mean", "count"]).reset_index()
    result = {
        "max_age": age,
        "unit": domain.time_unit,
        "tolerance": study.tolerance,
        "mean_roc_auc_by_age": {
            f"{r.age:g}": round(float(r["mean"]), 6) for _, r in by_age.iterrows()
        },
        "curve": curve.replace({np.nan: None}).to_dict(orient="records"),
    }
    write_json(project.paths.reports / "staleness.json", result)
    plots.staleness(
        curve, age, study.tolerance, domain.time_unit, project.paths.reports / "staleness.png"
    )
    return {"max_age": age}
