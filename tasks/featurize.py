"""featurize: prepared rows in, one feature table out (features, label, key, time, split,
slice columns). The feature functions are the ones serving will call; they never see the
label, outcome or identifier columns, and a feature over its cost budget fails here."""

from __future__ import annotations

from typing import Any

from mlpipe.core.errors import DataError, FeatureBudgetExceeded
from mlpipe.core.io import write_json, write_parquet
from mlpipe.core.project import SPLIT, Project
from mlpipe.core.validation import require_passed
from mlpipe.training.featurize import build_feature_table, feature_costs


def run(project: Project) -> dict[str, Any]:
    require_passed(project.paths.reports / "validation" / "raw.json")
    domain, params = project.domain, project.params
    base, counts = domain.prepare(project.raw_tables())
    if base.empty:
        raise DataError(
            f"no labelled rows left after preparation ({counts}): is the label column empty?"
        )
    passthrough = [c for c in project.table_columns() if c not in (SPLIT, *project.features)]
    missing = [column for column in passthrough if column not in base.columns]
    if missing:
        raise DataError(f"prepared data lacks columns named in params.yaml: {missing}")
    table, costs = build_feature_table(
        base,
        domain.features,
        project.features,
        passthrough,
        params.split,
        project.time_column,
        hidden=domain.protected_columns(),
    )
    measured = feature_costs(costs, len(base), params.feature_budget)
    write_json(project.paths.reports / "feature_costs.json", measured)
    over = {name: cost["over_budget"] for name, cost in measured.items() if cost["over_budget"]}
    if over:
        raise FeatureBudgetExceeded(
            "features over the cost budget (params.yaml feature_budget; measured values in "
            "reports/feature_costs.json):\n"
            + "\n".join(f"  {name}: {', '.join(reasons)}" for name, reasons in over.items())
        )
    write_parquet(project.paths.features, table)
    windows = list(params.split.windows())
    per_split = table[SPLIT].value_counts().reindex(windows).fillna(0)
    summary = {
        **counts,
        "rows": len(table),
        "rows_per_split": {name: int(n) for name, n in per_split.items()},
        "label_rate": round(float(table[domain.label].mean()), 6),
        "features": project.features,
    }
    write_json(project.paths.reports / "featurize.json", summary)
    return summary
