"""score: the project's ML Test Score (mlpipe.release.score) from the evidence it produced:
reports, the gate verdict, the registry's champion and audit history, the monitoring
report and its alerts, and the last test run (JUnit XML). Writes reports/score.json and
reports/score.html; `mlpipe score` prints the table and exits 1 under the floor."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlpipe.core import html
from mlpipe.core.errors import DataError, PipelineError
from mlpipe.core.io import read_json, write_json, write_text
from mlpipe.core.project import Project
from mlpipe.release.score import (
    FILES,
    PREDICTION_LOG,
    REPORTS,
    Artifact,
    Champion,
    Declared,
    Evidence,
    JUnitCase,
    JUnitRun,
    score,
)

# the style of each score in the HTML table (mlpipe.core.html classes)
STATUS = {1.0: "pass", 0.5: "warn", 0.0: "fail"}


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def read_report(root: Path, relative: str) -> Artifact:
    path = root / relative
    if not path.is_file():
        return Artifact(relative)
    try:
        return Artifact(relative, read_json(path), _mtime(path))
    except DataError as error:
        return Artifact(relative, error=str(error))


def _outcome(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    return "skipped" if case.find("skipped") is not None else "passed"


def read_junit(path: Path, relative: str) -> JUnitRun | None:
    """The last test run: each test case, its outcome and its checklist properties."""
    if not path.is_file():
        return None
    try:
        tree = ET.parse(path)
    except ET.ParseError as error:
        raise DataError(f"{path} is not JUnit XML ({error}): run `make test` again") from None
    cases = tuple(
        JUnitCase(
            f"{case.get('classname', '')}::{case.get('name', '')}",
            _outcome(case),
            tuple(
                prop.get("value", "")
                for prop in case.iter("property")
                if prop.get("name") == "checklist"
            ),
        )
        for case in tree.getroot().iter("testcase")
    )
    stamps = [suite.get("timestamp") for suite in tree.getroot().iter("testsuite")]
    when = _mtime(path)
    if stamps and stamps[0]:
        stamp = datetime.fromisoformat(stamps[0])
        when = stamp.astimezone(UTC)  # naive stamps are local time
    return JUnitRun(relative, when, cases)


def read_alerts(path: Path) -> tuple[tuple[datetime, tuple[str, ...]], ...]:
    """Each alert raised by monitoring: when, and the checks it named."""
    if not path.is_file():
        return ()
    alerts = []
    for line in path.read_text().splitlines():
        try:
            alert = json.loads(line)
            when = datetime.fromtimestamp(float(alert["at"]), UTC)
            names = tuple(str(breach.get("name")) for breach in alert.get("breaches") or [])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        alerts.append((when, names))
    return tuple(alerts)


def read_log_privacy(project: Project, since: datetime) -> Artifact:
    """How many identifier / sensitive values the prediction log holds in the clear
    (since ``since``): they must all be pseudonyms."""
    from mlpipe.core.privacy import PREFIX
    from mlpipe.monitoring.checks import parse_logged
    from mlpipe.serving.predictionlog import read_window

    relative = project.configs.serving.log_path
    path = project.paths.root / relative
    if not path.is_file():
        return Artifact(relative)
    log = read_window(path, since=since.timestamp())
    columns = [*project.domain.identifiers, *project.domain.sensitive]
    inputs, _corrupt = parse_logged(log, "inputs")
    clear = {
        column: int((~inputs[column].dropna().astype(str).str.startswith(PREFIX)).sum())
        for column in columns
        if column in inputs
    }
    when = datetime.fromtimestamp(float(log["ts"].max()), UTC) if len(log) else None
    return Artifact(relative, {"rows": len(log), "clear": clear}, when)


def read_registry(project: Project) -> dict[str, Any]:
    """The champion and the audit history, or why there are none."""
    from mlpipe.core.registry import CHAMPION, Registry

    try:
        registry = Registry(project.paths, must_exist=True)
        version = registry.alias(CHAMPION)
        history = tuple(event.__dict__ for event in registry.history())
    except PipelineError as error:
        return {"registry_note": str(error)}
    if version is None:
        return {"registry_note": "no champion registered", "history": history}
    created = datetime.fromtimestamp(version.created_ms / 1000, UTC)
    return {"champion": Champion(version.version, version.tags, created), "history": history}


def declared(project: Project) -> Declared:
    d, params = project.domain, project.params
    budget = params.feature_budget
    return Declared(
        outcomes=d.outcomes,
        identifiers=d.identifiers,
        sensitive=d.sensitive,
        features=tuple(project.features),
        feature_budget=bool(budget.seconds_per_100k_rows or budget.bytes_per_row),
        retention_days=project.configs.serving.retention_days,
        model_params=tuple(d.model.params.model_fields),
        tuning_space=tuple(params.tuning.space) if params.tuning else (),
    )


def gather(project: Project, now: datetime | None = None) -> Evidence:
    root = project.paths.root
    config = project.configs.score
    now = now or datetime.now(UTC)
    files = {
        str(path.relative_to(root)): _mtime(path)
        for pattern in FILES
        for path in root.glob(pattern)
        if path.is_file()
    }
    return Evidence(
        now=now,
        max_age_days=config.max_age_days,
        reports={
            **{relative: read_report(root, relative) for relative in REPORTS},
            PREDICTION_LOG: read_log_privacy(project, now - timedelta(days=config.max_age_days)),
        },
        files=files,
        tests=read_junit(root / config.junit, config.junit),
        alerts=read_alerts(root / project.configs.monitoring.alerts.file),
        declared=declared(project),
        **read_registry(project),
    )


def score_html(result: dict[str, Any]) -> str:
    """The score for a person: the sections, then each test with its evidence."""
    verdict = "at or above" if result["passed"] else "UNDER"
    sections = [*result["sections"].items(), ("final (minimum)", result["final"])]
    tests = [
        [t["id"], t["name"], t["score"], t["evidence"], t["check"], t["result"], t["when"]]
        for t in result["tests"]
    ]
    return html.page(
        "ML Test Score",
        [
            html.paragraph(
                f"Final score {result['final']:g}: {verdict} the floor {result['floor']:g} "
                "(configs/score.yaml). 1 = automated and recent, 0.5 = by hand and recorded, "
                "0 = missing, stale, failing or only recorded."
            ),
            html.table(["section", "score"], sections),
            html.heading("Tests"),
            html.table(
                ["id", "test", "score", "evidence", "check", "result", "when"],
                tests,
                [STATUS[t["score"]] for t in result["tests"]],
            ),
        ],
    )


def print_score(result: dict[str, Any]) -> None:
    """The score as a Rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ML Test Score: {result['final']:g} (floor {result['floor']:g})")
    for column in ("id", "score", "result", "evidence: check", "when"):
        table.add_column(column, overflow="fold")
    colour = {1.0: "green", 0.5: "yellow", 0.0: "red"}
    for t in result["tests"]:
        table.add_row(
            t["id"],
            f"[{colour[t['score']]}]{t['score']:g}[/]",
            t["result"],
            f"[dim]{t['evidence']}: {t['check']}[/]",
            (t["when"] or "")[:16].replace("T", " "),
        )
    console = Console()
    console.print(table)
    sums = ", ".join(f"{name} {value:g}/7" for name, value in result["sections"].items())
    console.print(f"Sections: {sums}. Final score (minimum): [bold]{result['final']:g}[/]")


def run(project: Project) -> dict[str, Any]:
    config = project.configs.score
    result = score(gather(project), config.floor).to_dict()
    result["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_json(project.paths.reports / "score.json", result)
    write_text(project.paths.reports / "score.html", score_html(result))
    return result
