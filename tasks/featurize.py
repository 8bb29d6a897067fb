"""featurize: prepared rows in, one feature table out (features, label, key, time, split,
slice columns). The feature functions are the ones serving will call."""

from __future__ import annotations

from typing import Any

from mlpipe.core.errors import DataError
from mlpipe.core.io import write_json, write_parquet
from mlpipe.core.project import SPLIT, Project
from mlpipe.core.validation import require_passed
from mlpipe.training.featurize import build_feature_table


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
        base, domain.features, project.features, passthrough, params.split, project.time_column
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
    write_json(
        project.paths.reports / "feature_costs.json",
        {name: {"seconds": round(c.seconds, 6), "bytes": c.bytes} for name, c in costs.items()},
    )
    return summary
