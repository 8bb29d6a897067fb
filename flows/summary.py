"""End-of-run summaries: a Rich table for the terminal, markdown for Prefect."""

from __future__ import annotations

from typing import Any

from mlpipe.core.configs import HEADLINE
from mlpipe.core.dag import StageOutcome


def _metrics(outcomes: list[StageOutcome]) -> dict[str, Any]:
    for outcome in outcomes:
        if "model" in outcome.result:
            return outcome.result
    return {}


def markdown_summary(outcomes: list[StageOutcome]) -> str:
    lines = ["# Training pipeline", "", "| stage | status | seconds |", "|---|---|---|"]
    for outcome in outcomes:
        status = "ran" if outcome.ran else "unchanged"
        lines.append(f"| {outcome.name} | {status} | {outcome.seconds:.1f} |")
        if outcome.name == "register" and outcome.result:
            registered = outcome.result
            lines.append(
                f"| registered version | {registered['version']} | "
                f"{registered.get('alias') or 'already registered'} |"
            )
    evaluation = _metrics(outcomes)
    if evaluation:
        lines += ["", "| metric (test) | model | baseline |", "|---|---|---|"]
        for name in HEADLINE:
            lines.append(
                f"| {name} | {evaluation['model'].get(name)} | {evaluation['baseline'].get(name)} |"
            )
        lines += ["", f"MLflow run: `{evaluation.get('mlflow_run_id')}`"]
    return "\n".join(lines) + "\n"


def print_summary(outcomes: list[StageOutcome], total_seconds: float, hints: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stages = Table(title="Pipeline stages")
    stages.add_column("stage")
    stages.add_column("status")
    stages.add_column("seconds", justify="right")
    for outcome in outcomes:
        status = "[green]ran[/]" if outcome.ran else "[dim]unchanged[/]"
        stages.add_row(outcome.name, status, f"{outcome.seconds:.1f}")
    stages.add_row("[bold]total[/]", "", f"[bold]{total_seconds:.1f}[/]")
    console.print(stages)
    evaluation = _metrics(outcomes)
    if evaluation:
        metrics = Table(title=f"Test metrics (threshold {evaluation['threshold']:.3f})")
        metrics.add_column("metric")
        metrics.add_column("model", justify="right")
        metrics.add_column("baseline", justify="right")
        for name in HEADLINE:
            metrics.add_row(
                name, str(evaluation["model"].get(name)), str(evaluation["baseline"].get(name))
            )
        console.print(metrics)
    for outcome in outcomes:
        if outcome.name == "register" and outcome.result:
            result = outcome.result
            if result.get("new"):
                console.print(f"Registered version {result['version']} as {result['alias']}.")
            else:
                console.print(
                    f"Same model as registered version {result['version']}: nothing new registered."
                )
    for hint in hints:
        console.print(hint)


def _age(created_ms: int) -> str:
    import time

    seconds = max(0, time.time() - created_ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def print_models(registry: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Registered versions of {registry.name}")
    for column in ("version", "aliases", "test roc_auc", "age", "gate", "model sha256"):
        table.add_column(column)
    aliases = registry.aliases()
    for version in registry.versions():
        tags = version.tags
        gate = tags.get("gate.verdict", "?")
        if "gate.forced_reason" in tags:
            gate += f" (forced: {tags['gate.forced_reason']})"
        table.add_row(
            str(version.version),
            ", ".join(sorted(aliases.get(str(version.version), []))),
            tags.get("metrics.test.roc_auc", ""),
            _age(version.created_ms),
            gate,
            tags.get("model.sha256", "")[:12],
        )
    Console().print(table)


def print_history(registry: Any, at: str | None) -> None:
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from mlpipe.core.errors import ConfigError

    console = Console()
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise ConfigError(f"--at {at!r} is not an ISO date or time") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        serving = registry.serving_at(when)
        console.print(f"champion at {when.isoformat()}: {'v' + serving if serving else 'none'}")
        return
    table = Table(title=f"Alias history of {registry.name}")
    for column in ("when (UTC)", "who", "action", "alias", "from", "to", "why"):
        table.add_column(column)
    for event in registry.history():
        table.add_row(
            event.when,
            event.who,
            event.action,
            event.alias,
            event.from_version or "-",
            event.to_version or "-",
            event.why,
        )
    console.print(table)
