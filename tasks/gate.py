"""gate: decide whether the candidate may be registered (checklist D2, D4, I4, M5-M7).

Reads the evaluation results and feature importance, re-scores the current champion on
the same test rows, builds the metrics table and validates it with the GX suite
generated from configs/gate.yaml (warn-only checks are listed in the verdict). Writes
reports/gate/ (verdict.json, report.html, metrics_table.csv); a failed gate raises, so
nothing downstream registers anything."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlpipe.core.errors import DataError, GateFailed
from mlpipe.core.io import atomic_path, file_sha256, read_json, write_json, write_text
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry, VersionInfo


def _evaluation(project: Project) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    metrics = read_json(project.paths.reports / "metrics.json")
    slices = read_json(project.paths.reports / "slice_metrics.json")
    if not (
        isinstance(metrics, dict)
        and {"model", "baseline", "threshold"} <= set(metrics)
        and isinstance(slices, list)
    ):
        raise DataError(
            "reports/metrics.json or slice_metrics.json is not an evaluation "
            "result: run `mlpipe run` (or `dvc repro`) again"
        )
    return metrics, slices


def rescore_champion(
    project: Project, champion: VersionInfo, registry: Registry
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None, str]:
    """The champion's metrics on the candidate's test rows, or why it could not be scored."""
    from mlpipe.core.metrics import binary_metrics, rounded, slice_metrics

    test = project.feature_table("test")
    missing = sorted(set(champion.features) - set(test.columns))
    if not champion.features or missing:
        return (
            None,
            None,
            (
                f"champion v{champion.version} needs features not produced now "
                f"({missing or 'unknown'}): comparison skipped"
            ),
        )
    model = registry.load_model(champion.version)
    proba = model.predict_proba(test[champion.features])[:, 1]
    y = test[project.domain.label].to_numpy()
    evaluate = project.params.evaluate
    overall = rounded(binary_metrics(y, proba, champion.threshold))
    slices = [
        rounded(row)
        for row in slice_metrics(
            test, y, proba, champion.threshold, project.slices, evaluate.min_slice_size
        )
    ]
    return overall, slices, f"champion v{champion.version} re-scored on the same test rows"


def recorded(registry: Registry, sha256: str) -> dict[str, Any] | None:
    """The verdict recorded on the registered version of this model, if there is one:
    judging it again would only cost time (the GX import, the champion re-scored)."""
    version = registry.find_by_tag("model.sha256", sha256) if registry.exists() else None
    if version is None:
        return None
    note = f"already registered as version {version.version}: its recorded verdict"
    if not version.passed_gate:
        forced = version.tags.get("gate.forced_reason")
        raise GateFailed(
            f"quality gate failed ({note} is {version.gate_verdict!r}"
            + (f", registered anyway: {forced})" if forced else ")")
        )
    return {
        "passed": True,
        "champion_version": version.tags.get("gate.champion_compared"),
        "note": note,
        "checks": None,
        "warnings": json.loads(version.tags.get("gate.warnings", "[]")),
        "registered_version": version.version,
    }


def run(project: Project) -> dict[str, Any]:
    registry = Registry(project.paths, must_exist=False)
    already = recorded(registry, file_sha256(project.paths.models / "model.joblib"))
    if already is not None:
        return already
    from mlpipe.release.gate import (  # only when judging
        LEAK_HINT,
        judge,
        metrics_table,
        report_html,
        review_rows,
        warnings,
    )

    config = project.configs.gate
    evaluation, slices = _evaluation(project)
    importance = read_json(project.paths.reports / "importance.json")
    champion = registry.alias(CHAMPION)
    champion_overall = champion_slices = None
    note = "no champion yet: judged on the absolute checks alone"
    if champion is not None:
        champion_overall, champion_slices, note = rescore_champion(project, champion, registry)
    has_champion = champion_overall is not None
    table = metrics_table(
        config,
        evaluation["model"],
        evaluation["baseline"],
        champion_overall,
        slices,
        champion_slices,
        importance,
    )
    report = judge(config, table, has_champion)
    rows = review_rows(config, table, has_champion)
    warned = warnings(rows)
    verdict = {
        "passed": report.success,
        "model_sha256": file_sha256(project.paths.models / "model.joblib"),
        "champion_version": champion.version if champion is not None else None,
        "note": note,
        "checks": [
            {"check": c.name, "passed": c.success, "expected": c.expected, "observed": c.observed}
            for c in report.checks
        ],
        "warnings": warned,
    }
    folder = project.paths.reports / "gate"
    write_json(folder / "verdict.json", verdict)
    write_text(folder / "report.html", report_html(rows, report.success, note))
    with atomic_path(folder / "metrics_table.csv") as tmp:
        table.replace({np.nan: None}).to_csv(tmp, index=False)
    if not report.success:
        leak = any(c.name.startswith("leak alarm") for c in report.failures)
        raise GateFailed(
            f"quality gate failed ({note}); nothing registered.\n"
            + report.summary()
            + (f"\n{LEAK_HINT}" if leak else "")
            + f"\nreport: {folder / 'report.html'}"
        )
    return {
        "passed": True,
        "champion_version": verdict["champion_version"],
        "note": note,
        "checks": len(report.checks),
        "warnings": warned,
    }
