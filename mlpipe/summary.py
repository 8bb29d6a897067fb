"""End-of-run summaries: a Rich table for the terminal, markdown for Prefect."""

from __future__ import annotations

from typing import Any

from mlpipe.dag import StageOutcome

HEADLINE = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1")


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
    for hint in hints:
        console.print(hint)
