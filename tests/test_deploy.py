"""Scheduled deployments for real: a Prefect server and a process worker on 127.0.0.1,
`prefect deploy` from prefect.yaml, and a triggered run of the training deployment."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import BIN, free_port, make_project, project_env, start_service, stop_service

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("deploy")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    url = f"http://127.0.0.1:{port}/api"
    process = start_service(
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        f"{url}/health",
        env,
    )
    yield url, home
    stop_service(process)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("deploy") / "project")


def prefect(root: Path, server, *args: str, timeout: float = 600):
    url, home = server
    env = {
        **project_env(root),
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(home),
        "MLPIPE_ROOT": str(root),
    }
    return subprocess.run(
        ["prefect", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_training_deployment_runs_to_completed_through_a_worker(server, project):
    created = prefect(
        project, server, "work-pool", "create", "mlpipe-local", "--type", "process", "--overwrite"
    )
    assert created.returncode == 0, created.stderr[-2000:]
    deployed = prefect(project, server, "--no-prompt", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    for name in ("training/weekly", "monitoring/daily", "promotion/hourly", "tuning/on-demand"):
        assert name in deployed.stdout

    url, home = server
    env = {
        **project_env(project),
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(home),
        "MLPIPE_ROOT": str(project),
    }
    worker = subprocess.Popen(
        ["prefect", "worker", "start", "--pool", "mlpipe-local"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run = prefect(
            project,
            server,
            "deployment",
            "run",
            "training/weekly",
            "--watch",
            "--watch-timeout",
            "500",
        )
    finally:
        stop_service(worker)
    assert "Completed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert (project / "models" / "model.joblib").is_file()
    assert (project / "reports" / "registration.json").is_file()


def test_a_deployment_of_a_missing_flow_fails_fast(server, tmp_path):
    project = make_project(tmp_path / "project")  # its prefect.yaml is changed
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    config["deployments"] = [
        {
            "name": "broken",
            "entrypoint": "flows/missing.py:nothing",
            "work_pool": {"name": "mlpipe-local"},
        }
    ]
    (project / "prefect.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    done = prefect(project, server, "--no-prompt", "deploy", "--name", "broken", timeout=120)
    assert done.returncode != 0
    assert "missing.py" in done.stdout + done.stderr
    assert time.perf_counter() - start < 60
