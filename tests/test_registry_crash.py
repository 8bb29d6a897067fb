"""Crash-safe registration (issue 12): a registry command killed with SIGKILL at each of
its steps (the documented test hook MLPIPE_FAULT=after:STEP, no timing), then the next
registry command finishes or undoes what it left: every registered version has its
alias and audit event, a first version ends as champion, no alias move is unaudited and
no lock ticket is left behind (checklist I4, I7)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHALLENGER, CHAMPION, FAULT_VARIABLE, Registry
from mlpipe.release.aliases import promote, recover
from tasks import run_step
from tests.helpers import copy_project, project_env, replace_model, run_cli, train

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("registry"),
    pytest.mark.checklist("I4", "I7"),
]

# the steps of a registration (tasks/register.py) and of an alias operation
# (Registry.move_aliases) after which the process is killed
REGISTER_STEPS = (
    "register.intent",  # the registration is written ahead; no version yet
    "register.version",  # the version exists: no alias, no audit event
    "move.intent",  # the alias move is written ahead; nothing moved
    "move.alias",  # the alias moved; no audit event
    "move.audit",  # moved and audited; the intent is still there
    "move.tags",  # everything done but the intents' removal
    "register.alias",  # the alias operation done; the registration intent still there
)


def registry(root: Path) -> Registry:
    return Registry(ProjectPaths(root))


def killed_at(root: Path, step: str, *command: str) -> None:
    """Run ``command`` in ``root`` and kill it (SIGKILL) right after ``step``."""
    env = {**project_env(root), FAULT_VARIABLE: f"after:{step}"}
    done = subprocess.run(
        list(command), cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-2000:])


def aliases_now(reg: Registry) -> dict[str, str]:
    return {alias: version for version, names in reg.aliases().items() for alias in names}


def assert_consistent(reg: Registry) -> None:
    """Nothing pending, no ticket left, and the audit history accounts for every alias:
    each event starts where the previous one of its alias ended, and replaying them all
    gives the aliases the registry holds now."""
    assert reg.pending() == {}
    assert not reg.client.search_model_versions(f"name='{reg.lease_name}'")
    replayed: dict[str, str | None] = {}
    for event in reg.history():
        assert event.from_version == replayed.get(event.alias), event
        replayed[event.alias] = event.to_version
    assert {a: v for a, v in replayed.items() if v is not None} == aliases_now(reg)


@pytest.fixture(scope="module")
def unregistered_source(released_copy, tmp_path_factory) -> Path:
    """The released project with a new candidate (passed the gate) and its registered
    model deleted: the candidate is registered as a first version. (A run of its own:
    MLflow caches artifact locations by run id within a process.)"""
    root = released_copy(tmp_path_factory.mktemp("first") / "project")
    replace_model(root, train(root, random_state=5))
    run_step(["gate"], root)
    reg = registry(root)
    reg.client.delete_registered_model(reg.name)
    return root


@pytest.fixture(scope="module")
def candidate_source(released_copy, tmp_path_factory) -> Path:
    """The released project (v1 champion) with a new candidate that passed the gate."""
    root = released_copy(tmp_path_factory.mktemp("candidate") / "project")
    replace_model(root, train(root, random_state=7))
    run_step(["gate"], root)
    return root


@pytest.fixture(scope="module")
def challenger_source(candidate_source, tmp_path_factory) -> Path:
    """v1 champion, v2 challenger (passed the gate)."""
    root = copy_project(candidate_source, tmp_path_factory.mktemp("challenger") / "project")
    assert run_step(["register"], root)["alias"] == CHALLENGER
    return root


@pytest.mark.parametrize("step", REGISTER_STEPS)
def test_a_first_registration_killed_at_any_step_ends_as_champion(
    unregistered_source, tmp_path, step
):
    root = copy_project(unregistered_source, tmp_path / "project")
    killed_at(root, step, "mlpipe", "stage", "register")
    result = run_step(["register"], root)  # the rerun a user makes
    assert result["version"] == "1"
    reg = registry(root)
    assert [v.version for v in reg.versions()] == ["1"]
    assert aliases_now(reg) == {CHAMPION: "1"}
    [event] = reg.history()
    assert (event.action, event.from_version, event.to_version) == (
        "register (first model)",
        None,
        "1",
    )
    assert_consistent(reg)


@pytest.mark.parametrize("step", ["register.version", "move.alias", "register.alias"])
def test_a_second_registration_killed_ends_as_challenger_after_any_command(
    candidate_source, tmp_path, step
):
    root = copy_project(candidate_source, tmp_path / "project")
    killed_at(root, step, "mlpipe", "stage", "register")
    done = run_cli(root, "mlpipe", "history")  # any registry command recovers
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recovered:" in done.stderr
    reg = registry(root)
    assert aliases_now(reg) == {CHAMPION: "1", CHALLENGER: "2"}
    assert [(e.action, e.to_version) for e in reg.history()][-1] == ("register", "2")
    assert_consistent(reg)
    assert run_step(["register"], root) == {"version": "2", "new": False, "alias": None}


@pytest.mark.parametrize(
    ("step", "finished"),
    [
        ("move.intent", False),  # nothing moved: undone
        ("move.alias#1", True),  # champion moved, unaudited
        ("move.audit#1", True),  # champion moved and audited; challenger still set
        ("move.alias#2", True),  # challenger removed, unaudited
        ("move.tags", True),
    ],
)
def test_a_promotion_killed_at_any_step_is_finished_or_undone(
    challenger_source, tmp_path, step, finished
):
    root = copy_project(challenger_source, tmp_path / "project")
    killed_at(root, step, "mlpipe", "promote", "--force", "--reason", "crash test")
    reg = registry(root)
    assert recover(reg)
    assert aliases_now(reg) == ({CHAMPION: "2"} if finished else {CHAMPION: "1", CHALLENGER: "2"})
    assert_consistent(reg)


@pytest.mark.parametrize(
    ("step", "finished"), [("move.intent", False), ("move.alias", True), ("move.audit", True)]
)
def test_a_rollback_killed_at_any_step_is_finished_or_undone(
    challenger_source, tmp_path, step, finished
):
    root = copy_project(challenger_source, tmp_path / "project")
    reg = registry(root)
    promote(reg, force_reason="set-up")
    killed_at(root, step, "mlpipe", "rollback")
    assert recover(reg)
    assert aliases_now(reg) == {CHAMPION: "1" if finished else "2"}
    rolled_back = reg.version("2").tags.get("rolled_back")
    assert rolled_back == ("true" if finished else None)
    assert_consistent(reg)
