"""Bad source data of the worked example ends with one clear message and a non-zero exit,
and never leaves a half-written output that a later stage would trust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlpipe.core.errors import DataError, ValidationFailed
from mlpipe.core.io import file_md5
from tasks import run_step
from tests.helpers import run_cli, update_params

from ..source import TABLES
from .conftest import PACKAGE, SAMPLE_OVERRIDES, example_project, write_source


@pytest.fixture
def project(tmp_path, small_source) -> Path:
    """A project reading its source from a folder the test may break."""
    source = tmp_path / "source"
    write_source(source, small_source)
    root = example_project(tmp_path / "project")
    update_params(
        root,
        {
            **SAMPLE_OVERRIDES,
            "ingest": {"sample_fraction": 1.0, "seed": 42},
            "domain": {"package": PACKAGE.name, "options": {"source_dir": str(source)}},
            # bad data is the point here, not feature cost: timings measured on a busy
            # machine must not fail these tests (the bytes budget still holds)
            "feature_budget": {"seconds_per_100k_rows": None},
        },
    )
    return root


def source_file(root: Path, table: str) -> Path:
    return root.parent / "source" / TABLES[table]


def raw_hashes(root: Path) -> dict[str, str]:
    return {p.name: file_md5(p) for p in sorted((root / "data" / "raw").glob("*.parquet"))}


def test_missing_source_table(project):
    source_file(project, "planes").unlink()
    with pytest.raises(DataError, match="source table 'planes' is missing"):
        run_step(["ingest"], project)
    assert not (project / "data" / "raw").exists()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda p: p.write_bytes(b""), "cannot be read"),
        (lambda p: p.write_bytes(p.read_bytes()[:5000]), "cannot be read"),
    ],
    ids=["empty", "truncated"],
)
def test_unreadable_source_keeps_the_previous_raw_data(project, breakage, message):
    run_step(["ingest"], project)
    before = raw_hashes(project)
    breakage(source_file(project, "flights"))
    with pytest.raises(DataError, match=message):
        run_step(["ingest"], project)
    assert raw_hashes(project) == before


def test_cli_gives_one_clear_message_and_exit_code(project):
    source_file(project, "weather").unlink()
    done = run_cli(project, "mlpipe", "stage", "ingest")
    assert done.returncode == 1
    assert done.stderr.startswith("error: source table 'weather' is missing")
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("column", "change", "expectation"),
    [
        ("distance", lambda f: f.drop(columns=["distance"]), "expect_table_columns_to_match_set"),
        ("distance", lambda f: f.assign(distance="far"), "expect_column_values_to_be_in_type_list"),
        (
            "month",
            lambda f: f.assign(month=np.where(f.index % 7 == 0, 14, f["month"])),
            "expect_column_values_to_be_between",
        ),
        ("arr_delay", lambda f: f.assign(arr_delay=np.nan), "expect_column_values_to_not_be_null"),
    ],
    ids=["missing column", "wrong type", "out of range", "label all null"],
)
def test_invalid_data_stops_before_features_are_rebuilt(
    project, small_source, column, change, expectation
):
    for stage in (["ingest"], ["validate", "raw"], ["featurize"]):
        run_step(stage, project)
    features = project / "data" / "features" / "features.parquet"
    before = file_md5(features)

    write_source(project.parent / "source", {"flights": change(small_source["flights"].copy())})
    run_step(["ingest"], project)
    with pytest.raises(ValidationFailed) as failure:
        run_step(["validate", "raw"], project)
    message = str(failure.value)
    assert expectation in message and "observed" in message
    if expectation != "expect_table_columns_to_match_set":
        assert f"flights.{column}" in message
    assert (project / "reports" / "validation" / "raw.html").is_file()
    with pytest.raises(ValidationFailed, match="failed validation"):
        run_step(["featurize"], project)
    assert file_md5(features) == before


def test_dvc_repro_stops_at_the_failed_validation(project, small_source):
    broken = small_source["flights"].assign(carrier="ZZ")
    write_source(project.parent / "source", {"flights": broken})
    done = run_cli(project, "dvc", "repro")
    assert done.returncode != 0
    assert "expect_column_values_to_be_in_set" in done.stderr
    assert "flights.carrier" in done.stderr
    assert not (project / "data" / "features").exists()


def test_corrupt_intermediate_file(project):
    for stage in (["ingest"], ["validate", "raw"]):
        run_step(stage, project)
    (project / "data" / "raw" / "weather.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        run_step(["featurize"], project)
