"""The registry lock against a real tracking server (`mlflow server` on 127.0.0.1, started
here and stopped after): several machines sharing a server share no file lock, so the
lock is a lease recorded in the registry itself. Two processes registering, and two
moving an alias in a tight loop, leave exactly one champion and an audit history in
which every move starts where the previous one ended (checklist I4, I7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from tasks import run_step
from tests.helpers import (
    BIN,
    REPO,
    copy_project,
    free_port,
    project_env,
    register_at_once,
    replace_model,
    start_service,
    stop_service,
    train,
)
from tests.test_registry_crash import aliases_now, assert_consistent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("registry"),
    pytest.mark.checklist("I4", "I7"),
]

MOVER = """
import sys
from pathlib import Path
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHALLENGER, Registry
registry = Registry(ProjectPaths(Path(sys.argv[1])))
for i in range(int(sys.argv[2])):
    with registry.lock():
        registry.move_alias(CHALLENGER, str(1 + i % 2), "race", sys.argv[3])
"""


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = start_service(command, f"{url}/health", env, cwd=folder, seconds=300)
    yield url
    stop_service(process)


def server_env(root: Path, url: str) -> dict[str, str]:
    return {**project_env(root), "MLFLOW_TRACKING_URI": url, "PYTHONPATH": str(REPO)}


def test_two_processes_register_and_move_aliases_through_one_server(
    tracking_server, released_copy, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    first = released_copy(tmp_path / "first")
    replace_model(first, train(first))  # its run now logged on the server
    second = copy_project(first, tmp_path / "second")
    replace_model(second, train(second, random_state=11))
    for root in (first, second):
        run_step(["gate"], root)
    register_at_once({root: server_env(root, tracking_server) for root in (first, second)})
    registry = Registry(ProjectPaths(first))
    assert registry.settings.tracking_uri == tracking_server
    assert sorted(v.version for v in registry.versions()) == ["1", "2"]
    assert sorted(aliases_now(registry)) == [CHALLENGER, CHAMPION]
    assert_consistent(registry)

    moves = 12
    racing = [
        subprocess.Popen(
            [sys.executable, "-c", MOVER, str(root), str(moves), root.name],
            cwd=root,
            env=server_env(root, tracking_server),
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in (first, second)
    ]
    errors = [process.communicate(timeout=600)[1] for process in racing]
    assert [process.returncode for process in racing] == [0, 0], errors
    raced = [e for e in registry.history() if e.action == "race"]
    assert sorted(e.why for e in raced) == ["first"] * moves + ["second"] * moves
    assert_consistent(registry)  # each move started where the one before it ended
