"""The monitoring report for a person: an HTML page (a summary table, then each check's
details as small tables: drifted features with their scores, AUC per slice, skew per
feature, latency percentiles, changed packages) and a Markdown summary for the flow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpipe.core import html
from mlpipe.monitoring.checks import Check


def _label(key: str) -> str:
    return key.replace("_", " ")


def inline(value: Any) -> str:
    """A value on one line: mappings as ``name: value``, lists joined, numbers rounded."""
    if isinstance(value, Mapping):
        return ", ".join(f"{_label(str(k))}: {inline(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(inline(v) for v in value) or "none"
    if isinstance(value, float):
        return html.number(value)
    return "" if value is None else str(value)


def _value(value: Any) -> Any:
    """A details value as a cell: a mapping of mappings becomes a table with one row per
    entry, a flat mapping a two-column table, anything else one line."""
    if isinstance(value, Mapping) and value:
        if all(isinstance(v, Mapping) for v in value.values()):
            columns = list(dict.fromkeys(k for v in value.values() for k in v))
            return html.table(
                ["", *map(_label, columns)],
                [[name, *(_cell(row.get(c)) for c in columns)] for name, row in value.items()],
            )
        return html.table(["", ""], [[_label(str(k)), _cell(v)] for k, v in value.items()])
    return _cell(value)


def _cell(value: Any) -> Any:
    return value if isinstance(value, bool | float | int | html.Html) else inline(value)


def details_html(check: Check) -> html.Html:
    if check.skipped:
        return html.paragraph("Skipped: ", check.skipped)
    return html.table(
        ["detail", "value"], [[_label(k), _value(v)] for k, v in check.details.items()]
    )


def report_html(checks: list[Check], version: str, rows: int, corrupt_rows: int) -> str:
    summary = html.table(
        ["status", "check", "checklist", "value", "threshold", "summary"],
        [
            [c.status, c.name, c.checklist, _cell(c.value), _cell(c.threshold), c.summary]
            for c in checks
        ],
        [c.status.lower() for c in checks],
    )
    sections = [
        html.paragraph(
            f"{rows} served predictions, {corrupt_rows} corrupt log rows skipped. ",
            html.link("drift.html", "Evidently drift report"),
        ),
        summary,
    ]
    for check in checks:
        sections += [html.heading(f"{check.name}: {check.status}"), details_html(check)]
    sections += [html.heading("Drift by column"), html.image("drift.png", "drift scores")]
    return html.page(f"Monitoring: model v{version}", sections)


def markdown(result: dict[str, Any]) -> str:
    """The flow's artifact: one row per check."""
    lines = [
        f"# Monitoring: model v{result['version']} ({result['rows']} predictions)",
        "",
        "| check | value | threshold | status | summary |",
        "|---|---|---|---|---|",
    ]
    for check in result["checks"]:
        status = "skipped" if check["skipped"] else ("BREACH" if check["breached"] else "ok")
        lines.append(
            f"| {check['name']} | {inline(check['value'])} | {inline(check['threshold'])} "
            f"| {status} | {check.get('summary', '')} |"
        )
    return "\n".join(lines) + "\n"


def alert_message(result: dict[str, Any]) -> str:
    """What a failed monitoring run says: each breached check, and where the report is."""
    breached = [c for c in result["checks"] if c["breached"]]
    return (
        f"{len(breached)} monitoring check(s) breached on model v{result['version']}:\n"
        + "\n".join(
            f"  - {c['name']} ({c['checklist']}): {inline(c['value'])} "
            f"vs threshold {inline(c['threshold'])}: {c.get('summary', '')}"
            for c in breached
        )
        + "\nreport: reports/monitoring/report.html"
    )
