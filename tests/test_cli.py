"""The command line: one entry point that starts fast because heavy libraries load lazily,
and bad input that ends with one clear message and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlpipe.core.errors import ConfigError
from tasks import run_step
from tests.helpers import REPO, make_project, run_cli, update_params

HEAVY = ("prefect", "mlflow", "great_expectations", "sklearn", "dvc", "pandas", "matplotlib")


def test_help_lists_the_commands():
    done = run_cli(REPO, "mlpipe", "--help")
    assert done.returncode == 0
    for command in ("run", "stage", "serve", "monitor", "rollback"):
        assert command in done.stdout


def test_cli_module_imports_no_heavy_library():
    code = f"import sys, flows.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == ""


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project", commit=False)


def test_bad_params_exit_code_names_the_key(project):
    update_params(project, {"model": {"learning_rate": "fast"}})
    done = run_cli(project, "mlpipe", "stage", "train")
    assert done.returncode == 2
    assert "model.learning_rate" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_column_in_a_config_stops_the_run_before_any_work(project):
    gate = project / "configs" / "gate.yaml"
    gate.write_text(gate.read_text().replace("groups: [region]", "groups: [city]"))
    done = run_cli(project, "mlpipe", "run")
    assert done.returncode == 2
    assert "configs/gate.yaml inclusion.groups: ['city']" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "data" / "raw").exists()


def test_unknown_step_and_project(project, tmp_path):
    with pytest.raises(ConfigError, match=r"no step tasks/polish\.py"):
        run_step(["polish"], project)
    done = run_cli(tmp_path, "mlpipe", "run")
    assert done.returncode == 2 and "no dvc.yaml found" in done.stderr
