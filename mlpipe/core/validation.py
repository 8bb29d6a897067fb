"""Thin adapter over Great Expectations (GX Core 1.x): run a suite stored in the repo
on a DataFrame, and return plain results the rest of the project understands.

GX's API changes between major versions; only this module talks to it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlpipe.core.errors import ConfigError


@dataclass(frozen=True)
class CheckResult:
    table: str
    expectation: str
    column: str | None
    success: bool
    expected: dict[str, Any]
    observed: Any
    name: str = ""


@dataclass
class ValidationReport:
    dataset: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(check.success for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.success]

    def summary(self) -> str:
        """One line per failed expectation: table, column, expectation, expected, observed."""
        lines = [
            f"{len(self.failures)} of {len(self.checks)} expectations failed on {self.dataset}:"
        ]
        for check in self.failures:
            where = f"{check.table}.{check.column}" if check.column else check.table
            what = check.expectation if check.name in ("", check.expectation) else check.name
            lines.append(
                f"  - {where}: {what} ({check.expectation}) expected {_short(check.expected)}, "
                f"observed {_short(check.observed)}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "success": self.success,
            "evaluated": len(self.checks),
            "failed": len(self.failures),
            "checks": [asdict(check) for check in self.checks],
        }

    def to_html(self) -> str:
        from mlpipe.core.html import page, paragraph, table

        rows = [
            [
                "pass" if check.success else "FAIL",
                check.table,
                check.column or "",
                check.expectation,
                _short(check.expected),
                _short(check.observed),
            ]
            for check in self.checks
        ]
        verdict = "passed" if self.success else f"failed ({len(self.failures)} violations)"
        return page(
            f"Data validation: {self.dataset}",
            [
                paragraph(f"{len(self.checks)} expectations, {verdict}."),
                table(
                    ["status", "table", "column", "expectation", "expected", "observed"],
                    rows,
                    ["pass" if check.success else "fail" for check in self.checks],
                ),
            ],
        )


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clean(value: Any) -> Any:
    """JSON-safe, deterministic observed values (no NaN, numpy scalars as Python)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return round(value, 6)
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def load_suite(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"expectation suite {path} not found")
    try:
        suite = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {error}") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ConfigError(f"expectation suite {path} has no 'expectations' list")
    return suite


def _missing(kwargs: dict[str, Any], columns: pd.Index) -> list[str]:
    """Columns an expectation names that the table lacks (GX then fails with an internal
    error such as "list index out of range" instead of saying so)."""
    named = [kwargs.get(key) for key in ("column", "column_A", "column_B")]
    named += list(kwargs.get("column_list") or [])
    return [str(name) for name in named if isinstance(name, str) and name not in columns]


def _observed(result: dict[str, Any], exception: dict[str, Any] | None, missing: list[str]) -> Any:
    if missing:
        names = ", ".join(repr(name) for name in missing)
        return f"column {names} is missing" if len(missing) == 1 else f"columns {names} are missing"
    if exception and exception.get("raised_exception"):
        message = str(exception.get("exception_message") or "error").splitlines()[0]
        return f"error: {message}"
    if "observed_value" in result:
        return _clean(result["observed_value"])
    if result.get("unexpected_index_list"):
        return _clean(result["unexpected_index_list"][:10])
    summary = {
        key: result[key]
        for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count")
        if key in result
    }
    if result.get("partial_unexpected_list"):
        summary["unexpected_examples"] = result["partial_unexpected_list"][:5]
    return _clean(summary)


def _condition(where: dict[str, Any]) -> Any:
    """``{"scope": "overall", "metric": "roc_auc"}`` as a GX row condition (all must hold)."""
    from great_expectations.expectations.row_conditions import Column

    condition = None
    for column, value in where.items():
        term = Column(column) == value
        condition = term if condition is None else condition & term
    return condition


def _gx_expectation(spec: dict[str, Any]) -> dict[str, Any]:
    """Our suite entries are GX's, plus an optional ``where`` equality filter on rows."""
    if "where" not in spec:
        return spec
    rows = ", ".join(f"{column}={value}" for column, value in spec["where"].items())
    spec = {
        **spec,
        "kwargs": {**spec["kwargs"], "row_condition": _condition(spec["where"])},
        "meta": {**spec.get("meta", {}), "rows": rows},
    }
    spec["kwargs"]["condition_parser"] = "great_expectations"
    return {key: value for key, value in spec.items() if key != "where"}


def validate_tables(
    dataset: str,
    tables: dict[str, pd.DataFrame],
    suites: dict[str, dict[str, Any]],
    id_column: str | None = None,
) -> ValidationReport:
    """Validate each table against the suite of the same name. With ``id_column``, a
    failed check reports the ids and values of the offending rows."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name=f"{dataset}_source")
    report = ValidationReport(dataset)
    for table, suite_spec in suites.items():
        if table not in tables:
            raise ConfigError(f"expectation suite for {table!r} but no such table in {dataset}")
        asset = source.add_dataframe_asset(name=table)
        batch = asset.add_batch_definition_whole_dataframe(f"{table}_all").get_batch(
            batch_parameters={"dataframe": tables[table]}
        )
        suite = ExpectationSuite(
            name=suite_spec.get("name", table),
            expectations=[_gx_expectation(spec) for spec in suite_spec["expectations"]],
        )
        result_format: Any = "BASIC"
        if id_column:
            result_format = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [id_column],
            }
        outcome = batch.validate(suite, result_format=result_format)
        for item in sorted(outcome.results, key=lambda r: _sort_key(r.expectation_config)):
            config = item.expectation_config
            kwargs = {
                k: _clean(v)
                for k, v in config.kwargs.items()
                if k not in ("column", "batch_id", "condition_parser", "row_condition")
            }
            if (config.meta or {}).get("rows"):
                kwargs["rows"] = config.meta["rows"]
            report.checks.append(
                CheckResult(
                    table=table,
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    success=bool(item.success),
                    expected=kwargs,
                    observed=_observed(
                        item.result or {},
                        item.exception_info,
                        [] if item.success else _missing(config.kwargs, tables[table].columns),
                    ),
                    name=str((config.meta or {}).get("check", config.type)),
                )
            )
    return report


def _sort_key(config: Any) -> tuple[str, str, str]:
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return (str(config.kwargs.get("column", "")), config.type, json.dumps(kwargs, default=str))


def require_passed(report_path: Path) -> None:
    """Refuse to build on data whose validation report is missing or failed."""
    from mlpipe.core.errors import ValidationFailed

    if not report_path.is_file():
        raise ValidationFailed(f"{report_path} not found: run the validate stage first")
    try:
        passed = json.loads(report_path.read_text()).get("success") is True
    except (json.JSONDecodeError, AttributeError):
        passed = False
    if not passed:
        raise ValidationFailed(f"{report_path} records a failed validation: fix the data first")
