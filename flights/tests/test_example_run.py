"""The worked example end to end on a 4% sample, through the real Prefect flow: every
stage runs, the gate passes and the first model becomes champion with its model card."""

from __future__ import annotations

import json

import pytest

from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHAMPION, Registry
from tests.helpers import run_cli

from .conftest import example_project

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("example"),
    pytest.mark.checklist("I3"),
]


def test_the_example_runs_to_a_registered_champion(tmp_path):
    root = example_project(tmp_path / "project")
    done = run_cli(root, "mlpipe", "run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Registered version 1 as champion" in done.stdout
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["model"]["roc_auc"] > metrics["baseline"]["roc_auc"] > 0.5
    slices = json.loads((root / "reports" / "slice_metrics.json").read_text())
    assert {row["slice"] for row in slices} == {"origin", "carrier", "month"}
    champion = Registry(ProjectPaths(root)).alias(CHAMPION)
    assert "flight leaving New York" in champion.description
    assert champion.features == json.loads((root / "models" / "model.json").read_text())["features"]
    staleness = json.loads((root / "reports" / "staleness.json").read_text())
    assert staleness["unit"] == "month" and staleness["max_age"] >= 1
