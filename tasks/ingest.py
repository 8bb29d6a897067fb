"""ingest: copy the source tables into data/raw/ with a provenance record beside them,
minus the rows of the data subjects on the deletion list (configs/deletions.txt, see
tasks/forget.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from mlpipe.core.domain import Domain, Tables
from mlpipe.core.errors import DataError
from mlpipe.core.io import atomic_dir, file_md5, write_json
from mlpipe.core.lineage import code_version
from mlpipe.core.project import Project
from tasks.forget import DELETIONS, deletions_path, deletions_sha256, read_deletions


def sample_rows(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A reproducible sample that keeps the original row order (time order survives)."""
    if fraction >= 1:
        return frame
    return frame.sample(frac=fraction, random_state=seed).sort_index().reset_index(drop=True)


def domain_keys(domain: Domain, tables: Tables) -> pd.Series:
    """The domain key of each main-table row, computed as serving computes it: ``enrich``
    on the serving fields (labels, logs and the deletion list all name rows by it)."""
    main = tables[domain.main_table]
    missing = [name for name in domain.serving_fields if name not in main.columns]
    if missing:
        raise DataError(f"{domain.main_table} lacks serving fields {missing}: cannot key its rows")
    light = main[list(domain.serving_fields)].reset_index(drop=True)
    enriched = domain.enrich(light, domain.build_context(tables))
    if len(enriched) != len(main):
        raise DataError(
            f"{domain.name}: enrich turned {len(main)} rows into {len(enriched)}: "
            "cannot match the deletion list to rows"
        )
    return pd.Series(enriched[domain.key].to_numpy(), index=main.index)


def drop_deleted(frame: pd.DataFrame, keys: pd.Series, deleted: list[str]) -> pd.DataFrame:
    """``frame`` without the rows whose key is on the deletion list (order kept)."""
    return frame.loc[~keys.isin(deleted).to_numpy()].reset_index(drop=True)


def truncated_columns(frame: pd.DataFrame) -> list[str]:
    """Columns empty in the last row only: the mark of a file cut short mid-row (a parser
    fills the fields it never saw with nulls, and no other row lacks them)."""
    if len(frame) < 2:
        return []
    last = frame.iloc[-1].isna()
    before = frame.iloc[:-1].notna().all()
    return [str(name) for name in frame.columns if last[name] and before[name]]


def check_complete(tables: Tables) -> None:
    """A truncated source file is named as such here, before validation would report its
    symptoms (a missing value, a changed type) as expectation failures."""
    for name, frame in tables.items():
        cut = truncated_columns(frame)
        if cut:
            raise DataError(
                f"source table {name!r} looks truncated: its last row (row {len(frame)}) lacks "
                f"{cut}, which every other row has. Restore or re-download the source file"
            )


def load_sources(domain: Domain) -> Tables:
    """The domain's tables; an unreadable or truncated source file as one message."""
    import zipfile

    try:
        tables = domain.load_sources()
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        zipfile.BadZipFile,
        EOFError,
        UnicodeDecodeError,
    ) as error:
        raise DataError(
            f"a source file of {domain.name} is truncated or unreadable ({error}): restore or "
            "re-download it"
        ) from None
    check_complete(tables)
    return tables


def run(project: Project) -> dict[str, Any]:
    domain, params = project.domain, project.params
    tables = load_sources(domain)
    main = domain.main_table
    # sample first, then delete: a deletion never reshuffles which other rows are sampled
    tables[main] = sample_rows(tables[main], params.ingest.sample_fraction, params.ingest.seed)
    deleted = read_deletions(deletions_path(project))
    before = len(tables[main])
    if deleted:
        tables[main] = drop_deleted(tables[main], domain_keys(domain, tables), deleted)
    dropped = before - len(tables[main])

    with atomic_dir(project.paths.raw) as folder:
        for name, frame in tables.items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)

    provenance = {
        **domain.source_info(),
        "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extracted_by": code_version(project.paths.root),
        "sample_fraction": params.ingest.sample_fraction,
        "deletions_file": str(DELETIONS),
        "deletions_sha256": deletions_sha256(deletions_path(project)),
        "deletions_keys": len(deleted),
        "deletions_rows_dropped": dropped,
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
    return {
        "rows": {name: len(frame) for name, frame in tables.items()},
        "deleted_rows": dropped,
    }
