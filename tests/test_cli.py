"""The command line: one entry point that starts fast because heavy libraries load lazily."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO, run_cli

HEAVY = ("prefect", "mlflow", "great_expectations", "sklearn", "dvc", "pandas", "matplotlib")


def test_help_lists_the_commands():
    done = run_cli(REPO, "mlpipe", "--help")
    assert done.returncode == 0
    for command in ("run", "stage"):
        assert command in done.stdout


def test_cli_module_imports_no_heavy_library():
    code = f"import sys, flows.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
