"""Failures a user meets end as one clear message that names the file at fault and what to
do (no traceback): a corrupt MLflow store, a missing model file, a truncated source file,
a stage that raises something unexpected."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from flows.failures import known_failure
from mlpipe.core.errors import DataError
from mlpipe.core.tracking import check_store
from tasks.ingest import check_complete
from tests.helpers import make_project, run_cli


def _store(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, payload TEXT)")
        db.executemany("INSERT INTO runs (payload) VALUES (?)", [("x" * 500,)] * 400)
    return path


def test_a_corrupt_store_is_named_with_what_to_do(tmp_path):
    store = _store(tmp_path / "mlflow.db")
    check_store(f"sqlite:///{store}")  # a sound store passes
    overwritten = store.read_bytes()
    (tmp_path / "header.db").write_bytes(b"\0" * 100 + overwritten[100:])
    (tmp_path / "cut.db").write_bytes(overwritten[: len(overwritten) // 2])
    for name in ("header.db", "cut.db"):
        with pytest.raises(DataError, match="restore it from a backup") as caught:
            check_store(f"sqlite:///{tmp_path / name}")
        assert str(tmp_path / name) in str(caught.value)


def test_the_cli_names_a_corrupt_store_in_one_line(tmp_path):
    root = make_project(tmp_path / "project", commit=False)
    (root / "mlflow.db").write_bytes(b"not a database at all" * 200)
    done = run_cli(root, "mlpipe", "models")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"the MLflow store {root / 'mlflow.db'} is corrupt" in done.stderr
    assert "restore it from a backup" in done.stderr


def test_a_missing_model_file_says_how_to_rebuild_it(tmp_path):
    missing = FileNotFoundError(2, "No such file or directory")
    missing.filename = str(tmp_path / "models" / "model.joblib")
    found = known_failure(RuntimeError("wrapped"), tmp_path)
    assert found is None
    error = RuntimeError("stage failed")
    error.__cause__ = missing
    message = str(known_failure(error, tmp_path))
    assert "models/model.joblib is missing" in message
    assert "dvc checkout models/model.joblib" in message and "mlpipe run" in message


def test_a_truncated_csv_in_a_valid_zip_is_reported_as_truncated(tmp_path):
    frame = pd.DataFrame({"id": range(50), "city": ["x"] * 50, "minutes": [1.5] * 50})
    text = frame.to_csv(index=False)
    archive = tmp_path / "table.csv.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("table.csv", text[: len(text) - 5])  # cut mid-row
    read = pd.read_csv(archive)
    with pytest.raises(DataError, match=r"'table' looks truncated: its last row"):
        check_complete({"table": read})
    check_complete({"table": frame})


@pytest.mark.integration
def test_a_failing_run_is_one_message_without_tracebacks(tmp_path):
    """A stage raising an unexpected error: Prefect's tracebacks and failure records stay
    off the console; the run ends with one `error:` block."""
    root = make_project(tmp_path / "project")
    source = root / "toydomain" / "source.py"
    source.write_text(
        source.read_text().replace(
            "def load_sources(options: Options) -> dict[str, pd.DataFrame]:\n",
            "def load_sources(options: Options) -> dict[str, pd.DataFrame]:\n"
            "    raise RuntimeError('the source store hung up')\n",
        )
    )
    dvc_yaml = root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("retries: 2", "retries: 0"))
    done = run_cli(root, "mlpipe", "run")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the source store hung up" in errors[0]
    assert done.stderr.rstrip().endswith(errors[0])
