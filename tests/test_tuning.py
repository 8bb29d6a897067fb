"""Hyperparameter tuning on a real local Dask cluster through prefect-dask (checklist M3):
every trial logged, reproducible, the search space checked against the domain's model
schema, and the registered version records which search its params came from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from mlpipe.core.errors import ConfigError, GateFailed
from mlpipe.core.params import TuningParams, load_params, set_section_values
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import Registry
from mlpipe.training.tuning import longest_first, sample_trials, tuning_tags
from tasks import run_step
from tests.helpers import git_commit, make_project, run_cli, run_pipeline
from tests.toydomain.model import ModelParams

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("tuning"),
    pytest.mark.checklist("M3"),
]

SMALL_SPACE = {
    "trials": 2,
    "seed": 7,
    "space": {"learning_rate": [0.05, 0.1, 0.2], "max_leaf_nodes": [7, 15], "max_iter": [30]},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("tuning") / "project", {"tuning": SMALL_SPACE})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    run_pipeline(root, release=True)
    return root


def test_sampled_trials_are_distinct_and_seeded():
    space = {"a": [1, 2, 3], "b": [0.1, 0.2]}
    first = sample_trials(space, 4, seed=1)
    assert first == sample_trials(space, 4, seed=1)
    assert len({tuple(sorted(t.items())) for t in first}) == 4
    assert sample_trials(space, 10, seed=1) != sample_trials(space, 10, seed=2)


def test_trials_the_last_search_found_slowest_go_first():
    trials = [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]
    last = {"trials": [{"params": {"a": 1}, "seconds": 2.0}, {"params": {"a": 3}, "seconds": 9.0}]}
    assert longest_first(trials, last) == [2, 0, 1, 3]
    assert longest_first(trials, None) == [0, 1, 2, 3]


def test_the_space_may_cover_every_model_parameter_and_nothing_else():
    every = {
        "max_iter": [10, 50],
        "learning_rate": [0.1],
        "max_leaf_nodes": [7],
        "random_state": [1],
    }
    assert set(every) == set(ModelParams.model_fields)
    TuningParams(space=every).check_space(ModelParams, {})
    with pytest.raises(ConfigError, match=r"\['depth'\] are not model parameters"):
        TuningParams(space={"depth": [3]}).check_space(ModelParams, {})
    with pytest.raises(ConfigError, match=r"tuning\.space\.learning_rate: -1 is invalid"):
        TuningParams(space={"learning_rate": [0.1, -1]}).check_space(ModelParams, {})


def test_a_bad_space_fails_before_any_trial(project):
    from flows.tuning import search

    params = project / "params.yaml"
    saved = params.read_text()
    raw = yaml.safe_load(saved)
    raw["tuning"]["space"]["max_depth"] = [3]
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        with pytest.raises(ConfigError, match="max_depth"):
            search(str(project))
    finally:
        params.write_text(saved)


def test_the_recorded_search_is_honoured_only_while_params_hold_its_values():
    report = {"applied": {"search_id": "s1", "at": "2026-01-01T00:00:00+00:00", "values": {"a": 1}}}
    assert tuning_tags(report, {"a": 1, "b": 2}) == {
        "tuning.applied": "true",
        "tuning.search_id": "s1",
        "tuning.applied_at": "2026-01-01T00:00:00+00:00",
    }
    assert tuning_tags(report, {"a": 3, "b": 2}) == {"tuning.applied": "false"}
    assert tuning_tags(None, {"a": 1}) == {"tuning.applied": "false"}


@pytest.fixture(scope="module")
def tuned(project) -> dict:
    """One search on two Dask workers, applied to params.yaml: the report it wrote (made
    here so that each test using it passes alone and in any order)."""
    done = run_cli(project, "mlpipe", "tune", "--workers", "2", "--apply")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((project / "reports" / "tuning.json").read_text())


def test_tuning_on_two_dask_workers_logs_every_trial_and_is_reproducible(project, tuned):
    first = tuned
    assert len(first["trials"]) == 2
    assert first["best"]["valid_roc_auc"] == max(t["valid_roc_auc"] for t in first["trials"])
    applied = first["applied"]
    assert (
        applied["search_id"] == first["search_id"] and applied["values"] == first["best"]["params"]
    )

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    parent = client.get_run(first["mlflow_run_id"])
    assert parent.data.tags["tuning.search_id"] == first["search_id"]
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{first['mlflow_run_id']}'",
    )
    assert len(children) == 2
    assert all("valid_roc_auc" in run.data.metrics for run in children)

    params = load_params(project / "params.yaml")
    for key, value in first["best"]["params"].items():
        assert params.model[key] == value

    again = run_cli(project, "mlpipe", "tune", "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((project / "reports" / "tuning.json").read_text())
    assert [t["valid_roc_auc"] for t in second["trials"]] == [
        t["valid_roc_auc"] for t in first["trials"]
    ]
    assert second["search_id"] == first["search_id"]
    assert second["applied"] == applied  # a search without --apply keeps the record


def test_the_registered_version_records_the_search_its_params_came_from(project, tuned):
    applied = tuned["applied"]
    git_commit(project, "apply tuned params")
    run_pipeline(project)
    try:
        run_step(["gate"], project)
        result = run_step(["register"], project)
    except GateFailed:  # the lineage is what is tested here, not the tuned model's quality
        result = run_step(["register", "test: lineage of tuned params"], project)
    tags = Registry(ProjectPaths(project)).version(result["version"]).tags
    assert tags["tuning.applied"] == "true"
    assert tags["tuning.search_id"] == applied["search_id"]
    assert tags["tuning.applied_at"] == applied["at"]
    first = Registry(ProjectPaths(project)).version("1").tags
    assert first["tuning.applied"] == "false" and "tuning.search_id" not in first


def test_unreachable_dask_scheduler_fails_fast(project):
    done = run_cli(project, "mlpipe", "tune", "--address", "tcp://127.0.0.1:9", timeout=120)
    assert done.returncode == 1
    assert "Dask scheduler at tcp://127.0.0.1:9 is unreachable" in done.stderr


def test_applying_values_keeps_comments_and_refuses_unknown_keys(tmp_path):
    from tests.helpers import REPO

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    set_section_values(path, "model", {"learning_rate": 0.05})
    assert yaml.safe_load(path.read_text())["model"]["learning_rate"] == 0.05
    assert "# HistGradientBoostingClassifier" in path.read_text()
    with pytest.raises(ConfigError, match=r"no model\.depth"):
        set_section_values(path, "model", {"depth": 3})
    assert "max_iter" in load_params(path).tuning.space  # the example searches it too
