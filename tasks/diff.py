"""diff: what this working tree's last run changes against the champion (checklist M1),
as Markdown for a pull-request comment; also written to reports/diff.md."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mlpipe.core.io import file_sha256, read_json, write_text
from mlpipe.core.lineage import code_version
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry, VersionInfo
from mlpipe.release.diff import Side, render


def _run_json(registry: Registry, run_id: str | None, path: str) -> Any:
    """A JSON artifact of the champion's training run, or None if it has none."""
    if not run_id:
        return None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = registry.client.download_artifacts(run_id, path, tmp)
        except Exception:  # an artifact store without the file: fall back to the tags
            return None
        return json.loads(Path(local).read_text())


def champion_side(registry: Registry, champion: VersionInfo) -> Side:
    evaluation = _run_json(registry, champion.run_id, "reports/metrics.json") or {}
    metrics = evaluation.get("model") or {
        name: float(value)
        for name in ("roc_auc", "pr_auc")
        if (value := champion.tags.get(f"metrics.test.{name}")) not in (None, "", "None")
    }
    return Side(
        params=champion.params,
        features=champion.features,
        metrics=metrics,
        slices=_run_json(registry, champion.run_id, "reports/slice_metrics.json") or [],
        commit=champion.tags.get("git.commit"),
    )


def run(project: Project) -> dict[str, Any]:
    paths = project.paths
    code = code_version(paths.root)
    model_path = paths.models / "model.joblib"
    new = Side(
        params=project.params.model_dump(mode="json"),
        features=read_json(paths.models / "model.json")["features"],
        metrics=read_json(paths.reports / "metrics.json")["model"],
        slices=read_json(paths.reports / "slice_metrics.json"),
        commit=f"{code['commit']}{' + uncommitted changes' if code['dirty'] else ''}"
        if code["commit"]
        else None,
    )
    verdict_path = paths.reports / "gate" / "verdict.json"
    registry = Registry(paths, must_exist=False)
    champion = registry.alias(CHAMPION)
    text = render(
        new,
        champion_side(registry, champion) if champion is not None else None,
        champion.version if champion is not None else None,
        read_json(verdict_path) if verdict_path.is_file() else None,
        file_sha256(model_path) if model_path.is_file() else None,
        project.configs.gate.slices.metric,
    )
    write_text(paths.reports / "diff.md", text)
    return {
        "markdown": text,
        "champion_version": champion.version if champion is not None else None,
        "path": str(paths.reports / "diff.md"),
    }
