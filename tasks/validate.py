"""validate: run the Great Expectations suites in configs/expectations/ on raw data
("raw") or on features ("features"). A violation stops the pipeline before anything
downstream is rebuilt; the report is written either way."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpipe.core.errors import ConfigError, ValidationFailed
from mlpipe.core.io import read_parquet, write_json, write_text
from mlpipe.core.project import Project
from mlpipe.core.validation import ValidationReport, load_suite, validate_tables

DATASETS = ("raw", "features")


def load_dataset(project: Project, dataset: str) -> dict[str, pd.DataFrame]:
    if dataset == "raw":
        return project.raw_tables()
    return {"features": read_parquet(project.paths.features)}


def load_suites(project: Project, dataset: str) -> dict[str, dict[str, Any]]:
    if dataset == "raw":
        folder = project.paths.expectations / "raw"
        return {path.stem: load_suite(path) for path in sorted(folder.glob("*.json"))}
    return {"features": load_suite(project.paths.expectations / "features.json")}


def run(project: Project, dataset: str) -> dict[str, Any]:
    if dataset not in DATASETS:
        raise ConfigError(f"validate takes one of {DATASETS}, not {dataset!r}")
    report: ValidationReport = validate_tables(
        dataset, load_dataset(project, dataset), load_suites(project, dataset)
    )
    folder = project.paths.reports / "validation"
    write_json(folder / f"{dataset}.json", report.to_dict())
    write_text(folder / f"{dataset}.html", report.to_html())
    if not report.success:
        raise ValidationFailed(report.summary() + f"\nreport: {folder / dataset}.html")
    return {"expectations": len(report.checks), "failed": 0}
