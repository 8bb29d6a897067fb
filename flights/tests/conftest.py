"""Fixtures of the worked example's tests: its params, its real source tables, and a
small throw-away copy of the example project."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlpipe.core.params import Params, load_params
from tests.helpers import REPO, copy_repo, git_commit, update_params

from ..source import TABLES, package_data_dir

PACKAGE = Path(__file__).resolve().parents[1]

# Small but real: 4% of the flights (about 13k rows) and a quicker model.
SAMPLE_OVERRIDES = {
    "ingest": {"sample_fraction": 0.04, "seed": 42},
    "model": {"max_iter": 40},
    "evaluate": {"importance_sample": 500, "importance_repeats": 2, "min_slice_size": 300},
}

# Gate thresholds a 4% sample can meet; the shipped configs/gate.yaml is for the full data.
SAMPLE_GATE = {
    "floors": {"roc_auc": 0.53, "log_loss": 0.7},
    "baseline": {"metric": "roc_auc", "min_margin": 0.0},
    "champion": {"metric": "roc_auc", "tolerance": 0.01},
    "slices": {"metric": "roc_auc", "floor": 0.5},
    "inclusion": {"groups": ["origin"], "metric": "roc_auc", "max_gap": 0.3},
    "max_nonfinite_predictions": 0,
    # 500 rows and 2 repeats cannot tell a weak feature from noise: list, do not fail
    "features": {"unhelpful": "warn"},
}


def example_project(dest: Path, overrides: dict | None = None) -> Path:
    """A copy of this repository's project (the example included, no outputs) on a sample;
    ``overrides={}`` keeps the full data and the shipped gate."""
    copy_repo(dest)
    update_params(dest, SAMPLE_OVERRIDES if overrides is None else overrides)
    if overrides is None:
        gate = dest / "configs" / "gate.yaml"
        gate.write_text(yaml.safe_dump({**yaml.safe_load(gate.read_text()), **SAMPLE_GATE}))
    git_commit(dest)
    return dest


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def source_tables_once() -> dict[str, pd.DataFrame]:
    """The real source tables, read once per session: never change them (``source_tables``
    gives a test its own copies)."""
    folder = package_data_dir()
    return {name: pd.read_csv(folder / filename) for name, filename in TABLES.items()}


@pytest.fixture(scope="session")
def small_source_once(source_tables_once) -> dict[str, pd.DataFrame]:
    """A 5% sample of flights with the other tables whole, made once per session: never
    change it (``small_source`` gives a test its own copies)."""
    tables = dict(source_tables_once)
    tables["flights"] = (
        source_tables_once["flights"]
        .sample(frac=0.05, random_state=0)
        .sort_index()
        .reset_index(drop=True)
    )
    return tables


def copies(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: table.copy() for name, table in tables.items()}


@pytest.fixture
def source_tables(source_tables_once) -> dict[str, pd.DataFrame]:
    """The real source tables, this test's own copies."""
    return copies(source_tables_once)


@pytest.fixture
def small_source(small_source_once) -> dict[str, pd.DataFrame]:
    """A 5% sample of flights with the other tables whole, for quick stage tests; this
    test's own copies."""
    return copies(small_source_once)


def write_source(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write tables as a source folder in the package's layout (flights zipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, filename in TABLES.items():
        if name in tables:
            tables[name].to_csv(folder / filename, index=False)
