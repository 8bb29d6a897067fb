"""Monitoring over a real prediction log written by the real service code, in process
(checklist M2, M4, Mo1-Mo7)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flights import SERVING_FIELDS
from flights import features as feature_registry
from mlpipe.core.errors import DataError
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry
from mlpipe.monitoring import checks as m
from mlpipe.monitoring.checks import load_monitor_config
from mlpipe.serving.predictionlog import add_labels
from mlpipe.serving.service import PredictionService
from tasks import run_step
from tasks.monitor import monitor
from tests.helpers import make_project, run_cli, run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("monitoring")]

FIELDS = list(SERVING_FIELDS)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("monitoring") / "project")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    run_pipeline(root)
    run_step(["gate"], root)
    run_step(["register"], root)
    return root


def flights(root: Path, months: tuple[int, int], n: int, seed: int = 0) -> list[dict]:
    table = pd.read_parquet(root / "data" / "raw" / "flights.parquet")
    chosen = table.loc[table["month"].between(*months)].sample(n=n, random_state=seed)
    return json.loads(chosen[FIELDS].to_json(orient="records"))


def serve_into(root: Path, log_name: str, records: list[dict], labels: bool = True) -> Path:
    """Score records through the real service code, logging to ``log_name``."""
    settings = root / "configs" / "serving.yaml"
    text = settings.read_text()
    settings.write_text(
        text.replace("log_path: data/serving/predictions.db", f"log_path: data/serving/{log_name}")
    )
    service = PredictionService(root)
    try:
        for start in range(0, len(records), 50):
            service.predict(records[start : start + 50])
    finally:
        service.close()
        settings.write_text(text)
    log = root / "data" / "serving" / log_name
    if labels:
        ctx = Project.load(root)
        tables = {
            n: pd.read_parquet(root / "data" / "raw" / f"{n}.parquet") for n in ctx.domain.TABLES
        }
        frame = pd.DataFrame(records)
        frame["arr_delay"] = (
            tables["flights"]
            .set_index(["year", "month", "day", "carrier", "flight", "origin"])
            .loc[
                pd.MultiIndex.from_frame(
                    frame[["year", "month", "day", "carrier", "flight", "origin"]]
                ),
                "arr_delay",
            ]
            .to_numpy()
        )
        labelled, _ = ctx.domain.prepare({**tables, "flights": frame}, ctx.options)
        add_labels(log, dict(zip(labelled["flight_key"], labelled["late_arrival"], strict=True)))
    return log


def run_monitor(root: Path, log: Path) -> dict:
    ctx = Project.load(root)
    config = load_monitor_config(ctx.paths.configs / "monitoring.yaml")
    return monitor(ctx, config, log, None)


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


@pytest.fixture(scope="module")
def later_months(project) -> dict:
    return run_monitor(project, serve_into(project, "later.db", flights(project, (11, 12), 600)))


@pytest.fixture(scope="module")
def training_months(project) -> dict:
    return run_monitor(project, serve_into(project, "train.db", flights(project, (1, 8), 600)))


def test_later_months_drift_and_training_months_do_not(later_months, training_months):
    assert check(later_months, "data drift")["breached"]
    assert check(later_months, "data drift")["details"]["drifted_features"]
    assert not check(training_months, "data drift")["breached"]
    assert (
        check(training_months, "data drift")["value"] < check(later_months, "data drift")["value"]
    )


def test_clean_serving_has_no_skew_no_invariant_breach_and_is_stable(training_months):
    assert check(training_months, "training/serving skew")["value"] == 0.0
    assert not check(training_months, "data invariants")["breached"]
    assert not check(training_months, "numerical stability")["breached"]


def test_served_quality_is_compared_with_offline(training_months, project):
    quality = check(training_months, "served quality")
    assert quality["skipped"] is None
    assert quality["details"]["labelled"] >= 400
    assert 0.4 < quality["value"] < 0.9
    tags = Registry(ProjectPaths(project)).alias(CHAMPION).tags
    assert quality["details"]["offline_roc_auc"] == float(tags["metrics.test.roc_auc"])
    assert set(quality["details"]["slices"]) <= {"origin=EWR", "origin=JFK", "origin=LGA"}


def test_a_model_older_than_the_allowed_age_is_flagged(later_months, project):
    staleness = json.loads((project / "reports" / "staleness.json").read_text())
    result = check(later_months, "model staleness")
    assert result["value"] == 12 - 8
    assert result["breached"] == (staleness["max_age_months"] < 4)
    assert m.staleness_check(pd.Series([11]), 8, 2).breached
    assert not m.staleness_check(pd.Series([9]), 8, 2).breached


def test_a_changed_package_version_is_reported(project, training_months):
    assert not check(training_months, "dependency changes")["breached"]
    registry = Registry(ProjectPaths(project))
    version = str(registry.alias(CHAMPION).version)
    registry.client.set_model_version_tag(registry.name, version, "env.numpy", "1.0.0")
    try:
        log = project / "data" / "serving" / "train.db"
        result = check(run_monitor(project, log), "dependency changes")
        assert result["breached"]
        assert result["details"]["changed"]["numpy"][0] == "1.0.0"
    finally:
        import numpy

        registry.client.set_model_version_tag(
            registry.name, version, "env.numpy", numpy.__version__
        )


def test_injected_skew_and_nan_are_caught(project, monkeypatch):
    """The serving code path computes `temp` differently and drops `distance`."""
    original_temp = feature_registry.get("temp").compute
    original_distance = feature_registry.get("distance").compute
    monkeypatch.setitem(
        feature_registry._features,
        "temp",
        feature_registry.get("temp").__class__(
            "temp", "numeric", lambda f: original_temp(f) + 1.0, ""
        ),
    )
    monkeypatch.setitem(
        feature_registry._features,
        "distance",
        feature_registry.get("distance").__class__(
            "distance", "numeric", lambda f: original_distance(f).where(f.index % 2 == 0), ""
        ),
    )
    log = serve_into(project, "skewed.db", flights(project, (1, 8), 200, seed=3), labels=False)
    monkeypatch.undo()
    result = run_monitor(project, log)
    skew = check(result, "training/serving skew")
    assert skew["breached"]
    assert set(skew["details"]["by_feature"]) == {"temp", "distance"}
    invariants = check(result, "data invariants")
    assert invariants["breached"]
    assert any("distance" in failure for failure in invariants["details"]["failures"])


def test_stability_check_catches_nan_predictions_and_inf_features():
    rows = pd.DataFrame({"probability": [0.2, np.nan, 1.5]})
    served = pd.DataFrame({"temp": [1.0, np.inf, 3.0]})
    result = m.stability_check(rows, served, m.StabilityRules())
    assert result.breached and result.value == {"predictions": 2, "features": 1}


def test_bad_input_gives_clear_messages(project, tmp_path):
    with pytest.raises(DataError, match="no prediction log"):
        run_monitor(project, tmp_path / "missing.db")
    empty = tmp_path / "empty.db"
    from mlpipe.serving.predictionlog import connect

    connect(empty).close()
    with pytest.raises(DataError, match="no predictions in the window"):
        run_monitor(project, empty)
    log = project / "data" / "serving" / "train.db"
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(log.read_bytes())
    with sqlite3.connect(corrupt) as db:
        db.execute(
            "UPDATE predictions SET features = '{broken' WHERE id IN "
            "(SELECT id FROM predictions WHERE role = 'champion' LIMIT 3)"
        )
    result = run_monitor(project, corrupt)
    assert result["corrupt_rows"] == 3
    features = project / "data" / "features" / "features.parquet"
    moved = tmp_path / "features.parquet"
    features.rename(moved)
    try:
        with pytest.raises(DataError, match="no drift reference"):
            run_monitor(project, log)
    finally:
        moved.rename(features)


def test_monitor_command_alerts_and_fails_on_breach(project, later_months):
    settings = project / "configs" / "serving.yaml"
    text = settings.read_text()
    settings.write_text(
        text.replace("log_path: data/serving/predictions.db", "log_path: data/serving/later.db")
    )
    try:
        done = run_cli(project, "mlpipe", "monitor")
    finally:
        settings.write_text(text)
    assert done.returncode == 1
    assert "data drift" in done.stderr and "report: reports/monitoring/report.html" in done.stderr
    alerts = (project / "reports" / "monitoring" / "alerts.jsonl").read_text().splitlines()
    assert any("data drift" in line for line in alerts)
    assert (project / "reports" / "monitoring" / "drift.html").stat().st_size > 10000
    assert "<table>" in (project / "reports" / "monitoring" / "report.html").read_text()
