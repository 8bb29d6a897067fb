"""Gate, registration with lineage, promotion and rollback against a real MLflow registry
(SQLite), on a small sample project run in this process (checklist I4, I7, M1, M5, M6)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlpipe.core.errors import GateFailed
from mlpipe.core.io import file_sha256, read_json
from mlpipe.core.lineage import dvc_lock_hashes
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry, RegistryError
from mlpipe.release.aliases import promote, rollback
from tasks import run_step
from tests.helpers import (
    InvertOnSlice,
    copy_project,
    make_project,
    register_at_once,
    replace_model,
    run_cli,
    train,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("registry"),
    pytest.mark.checklist("I4", "I7", "M1", "M5", "M6"),
]

REQUIRED_TAGS = (
    "git.commit",
    "git.dirty",
    "git.diff_sha256",
    "data.raw.md5",
    "data.features.md5",
    "data.source",
    "data.source_version",
    "data.extracted_by_commit",
    "data.extracted_at",
    "params",
    "params.sha256",
    "env.python",
    "env.lock_sha256",
    "env.scikit-learn",
    "prefect.flow_run_id",
    "mlflow.run_id",
    "gate.verdict",
    "model.sha256",
    "model.features",
    "model.threshold",
    "reproduce",
)


class NaNOnSlice(InvertOnSlice):
    """A deliberately broken model: no answer (NaN) on one slice."""

    def predict_proba(self, frame):
        proba = self.model.predict_proba(frame).copy()
        proba[(frame[self.column] == self.value).to_numpy()] = np.nan
        return proba


@pytest.fixture
def project(released: Path) -> Path:
    """This test's own copy of the released toy project: version 1 is the champion."""
    return released


def register_two_more(root: Path) -> None:
    """Version 2, forced past a failing gate (challenger), then version 3, a passing
    model of the same quality with new bytes (challenger)."""
    replace_model(root, train(root, max_iter=1, learning_rate=0.01, max_leaf_nodes=2))
    with pytest.raises(GateFailed):
        run_step(["gate"], root)
    assert run_step(["register", "incident 42: need the old features back"], root)["new"]
    replace_model(root, train(root, random_state=7))
    run_step(["gate"], root)
    assert run_step(["register"], root) == {"version": "3", "new": True, "alias": CHALLENGER}


@pytest.fixture(scope="module")
def three_versions_source(released_copy, tmp_path_factory) -> Path:
    """A released copy with versions 2 (forced) and 3 registered (``register_two_more``),
    built once for this module and never changed: tests take copies."""
    root = released_copy(tmp_path_factory.mktemp("three") / "project")
    register_two_more(root)
    return root


@pytest.fixture
def three_versions(three_versions_source: Path, tmp_path: Path) -> Path:
    """This test's own copy of a project with versions 1 (champion), 2 and 3."""
    return copy_project(three_versions_source, tmp_path / "three")


def registry(root: Path) -> Registry:
    return Registry(ProjectPaths(root))


def test_first_model_becomes_champion_with_complete_lineage(project):
    reg = registry(project)
    champion = reg.alias(CHAMPION)
    assert str(champion.version) == "1"
    tags = champion.tags
    missing = [tag for tag in REQUIRED_TAGS if tag not in tags]
    assert not missing
    assert tags["model.sha256"] == file_sha256(project / "models" / "model.joblib")
    assert tags["data.raw.md5"] == dvc_lock_hashes(project)["data/raw"]
    assert tags["data.features.md5"] == dvc_lock_hashes(project)["data/features/features.parquet"]
    assert (
        tags["params.sha256"] == hashlib.sha256((project / "params.yaml").read_bytes()).hexdigest()
    )
    assert tags["env.lock_sha256"] == hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tags["git.commit"] == head and tags["git.dirty"] == "False"
    assert tags["gate.verdict"] == "passed"
    assert head in tags["reproduce"]
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert json.loads(tags["params"])["model"] == params["model"]
    assert tags["tuning.applied"] == "false"  # params.yaml not from a recorded search
    verdict = read_json(project / "reports" / "gate" / "verdict.json")
    assert json.loads(tags["gate.warnings"]) == verdict["warnings"]
    assert "# Model card" in champion.description and "Per slice" in champion.description
    run_id = tags["mlflow.run_id"]
    assert any(a.path == "model_card.md" for a in reg.client.list_artifacts(run_id))
    [event] = reg.history()
    assert (event.action, event.alias, event.to_version) == (
        "register (first model)",
        CHAMPION,
        "1",
    )


def test_the_same_model_is_not_registered_twice(project):
    result = run_step(["register"], project)
    assert result == {"version": "1", "new": False, "alias": None}
    assert len(registry(project).versions()) == 1
    verdict = project / "reports" / "gate" / "verdict.json"
    judged = verdict.stat().st_mtime_ns
    done = run_cli(project, "mlpipe", "register")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "already registered as version 1: nothing to do"
    done = run_cli(project, "mlpipe", "gate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gate not run again: already registered as version 1" in done.stdout
    assert verdict.stat().st_mtime_ns == judged  # its recorded verdict, not judged again


@pytest.mark.parametrize(
    ("broken", "failing_check"),
    [
        (lambda root: train(root, shuffle=True), "beats the baseline"),
        (lambda root: InvertOnSlice(train(root), "region", "north"), "region=north"),
        (
            lambda root: train(root, max_iter=1, learning_rate=0.01, max_leaf_nodes=2),
            "not worse than the champion",
        ),
        (lambda root: NaNOnSlice(train(root), "region", "east"), "no NaN or inf predictions"),
    ],
    ids=["shuffled labels", "collapsed slice", "worse than champion", "NaN predictions"],
)
def test_gate_rejects_and_nothing_changes(project, broken, failing_check):
    reg = registry(project)
    before = ([str(v.version) for v in reg.versions()], reg.aliases(), len(reg.history()))
    replace_model(project, broken(project))
    with pytest.raises(GateFailed) as failure:
        run_step(["gate"], project)
    assert failing_check in str(failure.value)
    with pytest.raises(GateFailed, match="failed the quality gate"):
        run_step(["register"], project)
    after = ([str(v.version) for v in reg.versions()], reg.aliases(), len(reg.history()))
    assert after == before
    assert read_json(project / "reports" / "gate" / "verdict.json")["passed"] is False


def test_forced_registration_records_its_reason(project):
    replace_model(project, train(project, max_iter=1, learning_rate=0.01, max_leaf_nodes=2))
    with pytest.raises(GateFailed):
        run_step(["gate"], project)
    result = run_step(["register", "incident 42: need the old features back"], project)
    assert result["new"] and result["alias"] == CHALLENGER
    version = registry(project).version(result["version"])
    assert version.tags["gate.verdict"] == "failed"
    assert version.tags["gate.forced_reason"] == "incident 42: need the old features back"


def test_promote_rollback_round_trip_with_audit(three_versions):
    reg = registry(three_versions)
    promote(reg)
    assert str(reg.alias(CHAMPION).version) == "3" and reg.alias(CHALLENGER) is None
    before_rollback = datetime.fromisoformat(reg.history()[-1].when)

    rollback(reg, why="latency regression")
    assert str(reg.alias(CHAMPION).version) == "1"
    with pytest.raises(RegistryError, match="never passed the quality gate"):
        rollback(reg, to="2")
    rollback(reg, to="2", force_reason="customer asked for v2")
    assert str(reg.alias(CHAMPION).version) == "2"
    rollback(reg)
    assert str(reg.alias(CHAMPION).version) == "1"  # v3 was rolled back: skipped
    with pytest.raises(RegistryError, match="no version 99"):
        rollback(reg, to="99")

    moves = [(e.action, e.alias, e.from_version, e.to_version) for e in reg.history()]
    assert moves == [
        ("register (first model)", CHAMPION, None, "1"),
        ("register", CHALLENGER, None, "2"),
        ("register", CHALLENGER, "2", "3"),
        ("promote", CHAMPION, "1", "3"),
        ("promote", CHALLENGER, "3", None),
        ("rollback", CHAMPION, "3", "1"),
        ("rollback", CHAMPION, "1", "2"),
        ("rollback", CHAMPION, "2", "1"),
    ]
    assert reg.history()[5].why == "latency regression"
    assert reg.serving_at(before_rollback) == "3"
    assert all(event.who for event in reg.history())


def test_cli_errors_are_clear_and_change_nothing(project, tmp_path):
    reg = registry(project)
    aliases, versions = reg.aliases(), len(reg.versions())
    done = run_cli(project, "mlpipe", "rollback", "--to", "99")
    assert done.returncode == 1 and "has no version 99" in done.stderr
    done = run_cli(project, "mlpipe", "promote", "--force")
    assert done.returncode == 2 and "--reason" in done.stderr
    (project / "models" / "model.joblib").write_bytes(b"a candidate not registered yet")
    (project / "reports" / "metrics.json").write_text("{not json")
    done = run_cli(project, "mlpipe", "register")
    assert done.returncode == 1 and "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
    assert reg.aliases() == aliases and len(reg.versions()) == versions

    empty = make_project(tmp_path / "empty", commit=False)
    done = run_cli(empty, "mlpipe", "models")
    assert done.returncode == 1 and "no model registry" in done.stderr
    env_project = run_cli(
        project, "env", "MLFLOW_TRACKING_URI=http://127.0.0.1:9", "mlpipe", "rollback"
    )
    assert env_project.returncode == 1 and "unreachable" in env_project.stderr


def test_models_and_history_commands(three_versions):
    done = run_cli(three_versions, "mlpipe", "rollback", "--to", "2", "--force", "--reason", "r7")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "champion: v1 -> v2 (rolled back)" in done.stdout
    done = run_cli(three_versions, "mlpipe", "models")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[1]: line for line in done.stdout.splitlines() if line[:2].strip() == "│"}
    assert "champion" in rows["2"] and "forced: incident 42" in rows["2"]
    assert "challenger" in rows["3"] and "passed" in rows["1"]
    done = run_cli(three_versions, "mlpipe", "history")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rollback" in done.stdout and "r7" in done.stdout


def test_racing_registrations_keep_aliases_consistent(project, tmp_path, monkeypatch):
    """Two processes register two new models into one fresh registry at the same moment:
    both versions exist, exactly one is champion, the other challenger."""
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    first = tmp_path / "first"
    shutil.copytree(project, first, ignore=shutil.ignore_patterns("mlflow.db*", "mlartifacts"))
    replace_model(first, train(first))
    second = tmp_path / "second"
    shutil.copytree(first, second)
    replace_model(second, train(second, random_state=11))

    for root in (first, second):
        run_step(["gate"], root)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    register_at_once({root: run_env(root, env) for root in (first, second)}, timeout=300)
    reg = Registry(ProjectPaths(first))
    assert sorted(str(v.version) for v in reg.versions()) == ["1", "2"]
    assert sorted(reg.aliases()) == ["1", "2"]
    assert sorted(a for names in reg.aliases().values() for a in names) == [CHALLENGER, CHAMPION]
    first_models = [e for e in reg.history() if e.action == "register (first model)"]
    assert len(first_models) == 1


def run_env(root: Path, env: dict[str, str]) -> dict[str, str]:
    from tests.helpers import project_env

    return {**project_env(root), "MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"]}


def test_the_diff_against_the_champion_is_markdown_for_a_pull_request(project):
    done = run_cli(project, "mlpipe", "diff")
    assert done.returncode == 0, done.stderr[-2000:]
    champion = registry(project).alias(CHAMPION).version
    assert done.stdout.startswith(f"## Model change vs champion v{champion}")
    assert "### Headline metrics (test window)" in done.stdout
    assert "| region=north |" in done.stdout  # the champion's slice metrics, from its run
    assert (project / "reports" / "diff.md").read_text() == done.stdout


@pytest.mark.checklist("M1")
def test_registering_from_a_dirty_tree_is_refused_unless_forced_or_allowed(project):
    reg = registry(project)
    tracked = project / "toydomain" / "model.py"
    gate_config = project / "configs" / "gate.yaml"
    saved, saved_config = tracked.read_text(), gate_config.read_text()
    tracked.write_text(saved + "\n# an uncommitted change\n")
    replace_model(project, train(project, random_state=3))  # trained from a dirty tree
    versions = len(reg.versions())
    done = run_cli(project, "mlpipe", "register")
    assert done.returncode == 1
    assert "trained from a dirty git tree" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(reg.versions()) == versions
    done = run_cli(project, "mlpipe", "register", "--force", "--reason", "hotfix 7")
    assert done.returncode == 0, done.stderr[-2000:]
    forced = reg.versions()[-1]
    assert forced.tags["git.dirty"] == "True" and forced.tags["git.diff_sha256"] != "None"
    assert forced.tags["gate.forced_reason"] == "hotfix 7"

    gate_config.write_text(saved_config + "release:\n  allow_dirty: true\n")
    replace_model(project, train(project, random_state=4))
    run_step(["gate"], project)
    allowed = run_step(["register"], project)
    assert allowed["new"]
    assert "gate.forced_reason" not in reg.version(allowed["version"]).tags
