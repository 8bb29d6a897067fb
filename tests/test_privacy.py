"""Data subject deletion and retention (checklist D5): `mlpipe forget` erases a key from
the prediction log and its labels and lists it; ingest then keeps it out of data/raw,
the feature table and the next model, whose lineage names the list; `mlpipe purge`
deletes log rows past the retention period, and only those."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from mlpipe.core.errors import ConfigError
from mlpipe.core.io import file_sha256, read_json
from mlpipe.core.project import Project
from mlpipe.core.registry import Registry
from mlpipe.serving.predictionlog import PredictionLog, add_labels, connect, read_window
from tasks.forget import DELETIONS, purge, read_deletions
from tests.helpers import make_project, run_cli, run_pipeline

pytestmark = pytest.mark.checklist("D5")
DAY = 86400.0
MARKER = "erase-me-3f9c"  # a value only the erased rows carry


def log_predictions(path, keys: list[str], ts: float) -> None:
    log = PredictionLog(path)
    log.write(
        [
            {
                "request_id": f"r-{key}",
                "ts": ts,
                "key": key,
                "role": "champion",
                "version": "1",
                "served": 1,
                "probability": 0.5,
                "decision": 1,
                "inputs": {"visit_id": key[1:], "note": MARKER if key in ("v5", "v7") else ""},
            }
            for key in keys
        ]
    )
    log.close()


def stored_labels(path) -> set[str]:
    connection = connect(path)
    try:
        return {key for (key,) in connection.execute("SELECT key FROM labels")}
    finally:
        connection.close()


def commit(root: Path, path: Path, message: str) -> None:
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "add", str(path)], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_forget_erases_the_subject_everywhere_and_the_next_model_honours_it(released) -> None:
    project = released  # a released toy project of this test's own (conftest.released)
    loaded = Project.load(project)
    log = project / loaded.configs.serving.log_path
    log_predictions(log, ["v5", "v7", "v100", "v5"], time.time())
    add_labels(log, {"v5": 1, "v7": 0, "v100": 1})

    explained = project / "reports" / "explain" / "v5.html"  # as `mlpipe explain v5` leaves
    explained.parent.mkdir(parents=True, exist_ok=True)
    explained.write_text(MARKER)

    done = run_cli(project, "mlpipe", "forget", "v5", "v7", "--reason", "erasure request 42")
    assert done.returncode == 0, done.stderr
    assert "deleted 3 prediction rows, 2 labels and 1 explanation files" in done.stdout
    assert not explained.exists()
    assert read_window(log)["key"].tolist() == ["v100"]
    assert stored_labels(log) == {"v100"}
    for file in (log, log.with_name(log.name + "-wal")):  # not even in freed pages
        assert not file.exists() or MARKER.encode() not in file.read_bytes()
    deletions = project / DELETIONS
    assert read_deletions(deletions) == ["v5", "v7"]
    assert "\terasure request 42" in deletions.read_text()

    again = run_cli(project, "mlpipe", "forget", "v5")
    assert again.returncode == 0 and "0 keys added" in again.stdout
    assert read_deletions(deletions) == ["v5", "v7"]

    commit(project, DELETIONS, "forget v5 and v7")  # the list is tracked with the code
    run_pipeline(project, release=True)
    raw = pd.read_parquet(project / "data" / "raw" / "visits.parquet")
    assert len(raw) == 6000 - 2 and not raw["visit_id"].isin([5, 7]).any()
    table = loaded.feature_table()
    assert not table["visit_key"].isin(["v5", "v7"]).any() and "v6" in set(table["visit_key"])
    provenance = read_json(loaded.paths.raw_provenance)
    digest = file_sha256(deletions)
    assert provenance["deletions_sha256"] == digest
    assert provenance["deletions_rows_dropped"] == 2 and provenance["deletions_keys"] == 2
    latest = Registry(loaded.paths).versions()[-1]
    assert latest.version == "2", "the model trained without v5 and v7 was not registered"
    assert latest.tags["data.deletions_sha256"] == digest


def test_purge_deletes_rows_past_retention_only(tmp_path) -> None:
    root = make_project(tmp_path, commit=False)
    loaded = Project.load(root)
    assert loaded.configs.serving.retention_days == 90
    log = root / loaded.configs.serving.log_path
    now = time.time()
    log_predictions(log, ["v1", "v2"], now - 100 * DAY)  # past retention
    log_predictions(log, ["v3", "v2"], now - 10 * DAY)  # v2 again, recently
    add_labels(log, {"v1": 1, "v2": 0, "v3": 1, "v9": 1})
    connection = connect(log)
    with connection:  # labels arrived long ago, except v9's (its prediction comes later)
        connection.execute("UPDATE labels SET ts = ? WHERE key != 'v9'", (now - 95 * DAY,))
    connection.close()

    done = run_cli(root, "mlpipe", "purge")
    assert done.returncode == 0, done.stderr
    assert "deleted 2 prediction rows and 1 labels" in done.stdout
    window = read_window(log)
    assert sorted(window["key"]) == ["v2", "v3"]
    assert (window["ts"] > now - 90 * DAY).all()
    assert stored_labels(log) == {"v2", "v3", "v9"}

    assert purge(loaded, older_than_days=5, now=now)["deleted_predictions"] == 2
    assert read_window(log).empty

    serving = root / "configs" / "serving.yaml"
    serving.write_text(serving.read_text().replace("retention_days: 90", "retention_days: null"))
    with pytest.raises(ConfigError, match="no retention period"):
        purge(Project.load(root))
