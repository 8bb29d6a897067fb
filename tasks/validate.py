"""validate: run the Great Expectations suites in configs/expectations/ on raw data
("raw") or on features ("features"). A violation stops the pipeline before anything
downstream is rebuilt; the report is written either way."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpipe.core.errors import ConfigError, ValidationFailed
from mlpipe.core.io import read_parquet, write_json, write_text
from mlpipe.core.project import Project
from mlpipe.core.validation import CheckResult, ValidationReport, load_suite, validate_tables
from tasks.draft import require_suites

DATASETS = ("raw", "features")


def load_dataset(project: Project, dataset: str) -> dict[str, pd.DataFrame]:
    if dataset == "raw":
        return project.raw_tables()
    return {"features": read_parquet(project.paths.features)}


def load_suites(project: Project, dataset: str) -> dict[str, dict[str, Any]]:
    require_suites(project, dataset)
    if dataset == "raw":
        folder = project.paths.expectations / "raw"
        return {path.stem: load_suite(path) for path in sorted(folder.glob("*.json"))}
    return {"features": load_suite(project.paths.expectations / "features.json")}


def column_set_check(table: pd.DataFrame, declared: list[str]) -> CheckResult:
    """The feature table holds exactly the declared columns (checklist D4): a column
    nobody declared (an outcome, an identifier) cannot slip into training."""
    extra = sorted(set(table.columns) - set(declared))
    missing = sorted(set(declared) - set(table.columns))
    return CheckResult(
        table="features",
        expectation="exact column set",
        column=None,
        success=not (extra or missing),
        expected={"columns": declared},
        observed={"extra": extra, "missing": missing},
        name="columns are exactly key, label, time, split, features and slices",
    )


def run(project: Project, dataset: str) -> dict[str, Any]:
    if dataset not in DATASETS:
        raise ConfigError(f"validate takes one of {DATASETS}, not {dataset!r}")
    tables = load_dataset(project, dataset)
    report: ValidationReport = validate_tables(dataset, tables, load_suites(project, dataset))
    if dataset == "features":
        report.checks.append(column_set_check(tables["features"], project.table_columns()))
    folder = project.paths.reports / "validation"
    write_json(folder / f"{dataset}.json", report.to_dict())
    write_text(folder / f"{dataset}.html", report.to_html())
    if not report.success:
        raise ValidationFailed(report.summary() + f"\nreport: {folder / dataset}.html")
    return {"expectations": len(report.checks), "failed": 0}
