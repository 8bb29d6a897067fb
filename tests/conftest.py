from __future__ import annotations

import os

# Two xdist workers on two cores: OpenMP threads in each would oversubscribe the machine
# and spin; one thread per process keeps every test (and the processes it starts) fast.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd
import pytest

from flights.source import TABLES, package_data_dir
from mlpipe.core.params import Params, load_params
from tests.helpers import REPO


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def source_tables() -> dict[str, pd.DataFrame]:
    """The real source tables, read once per session (read-only: copy before changing)."""
    folder = package_data_dir()
    return {name: pd.read_csv(folder / filename) for name, filename in TABLES.items()}


@pytest.fixture(scope="session")
def small_source(source_tables, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """A 5% sample of flights with the other tables whole, for quick stage tests."""
    tables = dict(source_tables)
    tables["flights"] = (
        source_tables["flights"]
        .sample(frac=0.05, random_state=0)
        .sort_index()
        .reset_index(drop=True)
    )
    return tables


def write_source(folder, tables: dict[str, pd.DataFrame]) -> None:
    """Write tables as a source folder in the package's layout (flights zipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, filename in TABLES.items():
        if name in tables:
            tables[name].to_csv(folder / filename, index=False)
