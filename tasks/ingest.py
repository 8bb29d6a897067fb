"""ingest: copy the source tables into data/raw/ with a provenance record beside them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from mlpipe.core.io import atomic_dir, file_md5, write_json
from mlpipe.core.lineage import code_version
from mlpipe.core.project import Project


def sample_rows(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A reproducible sample that keeps the original row order (time order survives)."""
    if fraction >= 1:
        return frame
    return frame.sample(frac=fraction, random_state=seed).sort_index().reset_index(drop=True)


def run(project: Project) -> dict[str, Any]:
    domain, params = project.domain, project.params
    tables = domain.load_sources()
    main = domain.main_table
    tables[main] = sample_rows(tables[main], params.ingest.sample_fraction, params.ingest.seed)

    with atomic_dir(project.paths.raw) as folder:
        for name, frame in tables.items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)

    provenance = {
        **domain.source_info(),
        "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extracted_by": code_version(project.paths.root),
        "sample_fraction": params.ingest.sample_fraction,
        "tables": {
            name: {
                "rows": len(frame),
                "columns": len(frame.columns),
                "md5": file_md5(project.paths.raw / f"{name}.parquet"),
            }
            for name, frame in tables.items()
        },
    }
    write_json(project.paths.raw_provenance, provenance)
    return {"rows": {name: len(frame) for name, frame in tables.items()}}
