"""The architecture, checked: three homes with imports only downward (flows -> tasks ->
mlpipe), the fast-changing libraries behind one adapter each, no framework test that
needs the worked example, and a library test suite that passes without it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, git_commit, tracked_files

PHASES = ("training", "release", "serving", "monitoring")
# third-party libraries and the one module allowed to import each
ADAPTERS = {
    "mlflow": {"mlpipe/core/tracking.py", "mlpipe/core/registry.py"},
    "great_expectations": {"mlpipe/core/validation.py"},
    "evidently": {"mlpipe/monitoring/drift.py"},
}


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def tops(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported(path)}


def test_the_framework_imports_nothing_above_it():
    for path in python_files("mlpipe"):
        assert not tops(path) & {"tasks", "flows", EXAMPLE}, path
        if path.parent.name == "core":
            deeper = {
                n for n in imported(path) if n.startswith(tuple(f"mlpipe.{p}" for p in PHASES))
            }
            assert not deeper, f"{path}: core imports a phase: {deeper}"


def test_tasks_never_import_flows_or_the_example():
    for path in python_files("tasks"):
        assert not tops(path) & {"flows", EXAMPLE}, path


def test_flows_do_not_import_the_example():
    for path in python_files("flows"):
        assert EXAMPLE not in tops(path), path


def test_each_fast_changing_library_has_one_adapter():
    for folder in ("mlpipe", "tasks", "flows"):
        for path in python_files(folder):
            relative = str(path.relative_to(REPO))
            for library, allowed in ADAPTERS.items():
                if library in tops(path):
                    assert relative in allowed, f"{relative} imports {library}"


def test_no_framework_test_imports_the_example():
    for path in python_files("tests"):
        assert EXAMPLE not in tops(path), path


def test_the_example_package_imports_itself_relatively():
    """The package can be renamed (copier) without editing a single module."""
    for path in python_files(EXAMPLE):
        assert EXAMPLE not in tops(path), path


@pytest.mark.integration
def test_library_tests_pass_without_the_example(tmp_path):
    copy = tmp_path / "library"
    for relative in tracked_files(REPO):
        if relative.parts[0] == EXAMPLE:
            continue
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target)
    assert not (copy / EXAMPLE).exists()
    git_commit(copy, "the framework without the example")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not integration",
            "-x",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=1800,  # far above a normal run: a busy machine must not fail it
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
