"""Hyperparameter tuning on a real local Dask cluster through prefect-dask (checklist M3)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from mlpipe.core.errors import ConfigError
from mlpipe.core.params import load_params, set_section_values
from tests.helpers import make_project, run_cli, run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("tuning")]

SMALL_SPACE = {
    "trials": 4,
    "seed": 7,
    "space": {"learning_rate": [0.05, 0.1, 0.2], "max_leaf_nodes": [7, 15]},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    from tests.helpers import SAMPLE_OVERRIDES

    root = make_project(
        tmp_path_factory.mktemp("tuning") / "project", {**SAMPLE_OVERRIDES, "tuning": SMALL_SPACE}
    )
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    run_pipeline(root)
    return root


def test_sampled_trials_are_distinct_and_seeded():
    from flows.tuning import sample_trials

    space = {"a": [1, 2, 3], "b": [0.1, 0.2]}
    first = sample_trials(space, 4, seed=1)
    assert first == sample_trials(space, 4, seed=1)
    assert len({tuple(sorted(t.items())) for t in first}) == 4
    assert sample_trials(space, 10, seed=1) != sample_trials(space, 10, seed=2)


def test_tuning_on_two_dask_workers_logs_every_trial_and_is_reproducible(project):
    done = run_cli(project, "mlpipe", "tune", "--workers", "2", "--apply")
    assert done.returncode == 0, done.stderr[-3000:]
    first = json.loads((project / "reports" / "tuning.json").read_text())
    assert len(first["trials"]) == 4
    assert first["best"]["valid_roc_auc"] == max(t["valid_roc_auc"] for t in first["trials"])

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    children = client.search_runs(
        [client.get_run(first["mlflow_run_id"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{first['mlflow_run_id']}'",
    )
    assert len(children) == 4
    assert all("valid_roc_auc" in run.data.metrics for run in children)

    params = load_params(project / "params.yaml")
    for key, value in first["best"]["params"].items():
        assert getattr(params.model, key) == value

    again = run_cli(project, "mlpipe", "tune", "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((project / "reports" / "tuning.json").read_text())
    assert [t["valid_roc_auc"] for t in second["trials"]] == [
        t["valid_roc_auc"] for t in first["trials"]
    ]


def test_unreachable_dask_scheduler_fails_fast(project):
    done = run_cli(project, "mlpipe", "tune", "--address", "tcp://127.0.0.1:9", timeout=120)
    assert done.returncode == 1
    assert "Dask scheduler at tcp://127.0.0.1:9 is unreachable" in done.stderr


def test_applying_values_keeps_comments_and_validates(tmp_path):
    from tests.helpers import REPO

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    set_section_values(path, "model", {"learning_rate": 0.05})
    assert yaml.safe_load(path.read_text())["model"]["learning_rate"] == 0.05
    assert "# HistGradientBoostingClassifier" in path.read_text()
    with pytest.raises(ConfigError, match=r"model\.learning_rate"):
        set_section_values(path, "model", {"learning_rate": -1})
    with pytest.raises(ConfigError, match=r"no model\.depth"):
        set_section_values(path, "model", {"depth": 3})
