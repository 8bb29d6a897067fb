from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

# Two xdist workers on two cores: OpenMP threads in each would oversubscribe the machine
# and spin; one thread per process keeps every test (and the processes it starts) fast.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)

# Rich wraps tables and messages at 80 columns when it has no terminal: checks on a
# command's output must not depend on where the tests run (helpers.project_env too).
WIDE = "240"

# The released toy project's domain options: later weeks (the holdout) drift.
RELEASED_OPTIONS = {"rows_per_week": 300, "weeks": 20, "drift_from_week": 16}


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri():
    """MLflow exports the tracking URI it is given; a test that calls it directly must not
    send the next test's project to its store."""
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich output made in this process is as wide as a subprocess's."""
    monkeypatch.setenv("COLUMNS", WIDE)


def shared_folder(config: pytest.Config, factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run shares (this run's alone: a worker's base
    folder sits in the run's)."""
    base = factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


def build_released(root: Path) -> Path:
    """The toy project run through the pipeline, gated and registered as champion. Its
    gate fails unhelpful features (the noise feature `store_size` accepted with a reason),
    so every row of the verdict is evidence; weeks 16 on drift (RELEASED_OPTIONS)."""
    from tests.helpers import git_commit, make_project, run_pipeline

    make_project(
        root, {"domain": {"package": "toydomain", "options": RELEASED_OPTIONS}}, commit=False
    )
    gate = root / "configs" / "gate.yaml"
    config = yaml.safe_load(gate.read_text())
    config["features"] = {
        "unhelpful": "fail",
        "accepted": {"store_size": "the toy domain's noise feature, kept on purpose"},
    }
    gate.write_text(yaml.safe_dump(config))
    git_commit(root)
    run_pipeline(root, release=True)
    return root


def fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    """Size and time of every file (bytecode aside: importing the project writes it)."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


# Tests that use it share one xdist group, so one worker builds it while the other works.
@pytest.fixture(scope="session")
def released_copy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], Path]]:
    """Copies of one released toy project (``build_released``), made once per test run
    (xdist workers share it through a lock) and never changed: each test or module gets
    its own copy, ``released_copy(folder / "project")``, so no change leaks."""
    from tests.helpers import copy_project

    folder = shared_folder(request.config, tmp_path_factory) / "released"
    folder.mkdir(exist_ok=True)
    source, done = folder / "project", folder / "built"
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if source.exists():  # a worker failed half-way: build afresh
                shutil.rmtree(source)
            build_released(source)
            done.touch()
    before = fingerprint(source)
    yield lambda dest: copy_project(source, dest)
    assert fingerprint(source) == before, f"a test changed the shared project {source}"


@pytest.fixture
def released(released_copy, tmp_path: Path) -> Path:
    """This test's own copy of the released toy project."""
    return released_copy(tmp_path / "project")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "checklist(*ids): the ML Test Score tests this test is evidence for (D1..Mo7); "
        "recorded in the JUnit XML that `mlpipe score` reads",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each checklist id as a ``checklist`` property of the test's JUnit XML record.
    Integration tests first, each kind kept in pytest-randomly's shuffled order: xdist
    (``--dist loadgroup``) hands out the biggest groups first and then single tests in
    this order, so a long test starts early instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
    for item in items:
        for marker in item.iter_markers("checklist"):
            for test_id in marker.args:
                if ("checklist", test_id) not in item.user_properties:
                    item.user_properties.append(("checklist", test_id))
