from __future__ import annotations

import os

import pytest

# Two xdist workers on two cores: OpenMP threads in each would oversubscribe the machine
# and spin; one thread per process keeps every test (and the processes it starts) fast.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri():
    """MLflow exports the tracking URI it is given; a test that calls it directly must not
    send the next test's project to its store."""
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "checklist(*ids): the ML Test Score tests this test is evidence for (D1..Mo7); "
        "recorded in the JUnit XML that `mlpipe score` reads",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each checklist id as a ``checklist`` property of the test's JUnit XML record."""
    for item in items:
        for marker in item.iter_markers("checklist"):
            for test_id in marker.args:
                if ("checklist", test_id) not in item.user_properties:
                    item.user_properties.append(("checklist", test_id))
