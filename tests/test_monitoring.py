"""Monitoring over a real prediction log written by the real service code, on the toy
domain (checklist M2, M4, Mo1-Mo7). The toy's `minutes` drifts from week 16 on (the
holdout weeks); training and validation weeks are in-distribution."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlpipe.core import html
from mlpipe.core.errors import DataError
from mlpipe.core.features import Feature
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry
from mlpipe.monitoring import checks as m
from mlpipe.monitoring import history
from mlpipe.monitoring.drift import Calibration, drift_scores, evidently_report
from mlpipe.serving.predictionlog import add_labels, connect
from mlpipe.serving.service import PredictionService
from tasks import run_step
from tasks.monitor import monitor
from tests.conftest import RELEASED_OPTIONS
from tests.helpers import copy_project, git_commit, project_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("released")]


@pytest.fixture(scope="module")
def project(tmp_path_factory, released_copy) -> Path:
    """This module's copy of the released toy project (conftest.build_released: weeks 16
    on drift); a test that changes it puts it back."""
    return released_copy(tmp_path_factory.mktemp("monitoring") / "project")


def visits(root: Path, weeks: tuple[int, int], n: int, seed: int = 0) -> list[dict]:
    """Raw request records of the given weeks, as a client would send them."""
    project = Project.load(root)
    table = pd.read_parquet(root / "data" / "raw" / "visits.parquet")
    chosen = table.loc[table["week"].between(*weeks)].sample(n=n, random_state=seed)
    return json.loads(chosen[list(project.domain.serving_fields)].to_json(orient="records"))


def log_path(root: Path, name: str) -> Path:
    return root / "data" / "serving" / name


def add_true_labels(root: Path, log: Path, records: list[dict]) -> None:
    """The labels of the served visits arrive later, by key."""
    project = Project.load(root)
    domain = project.domain
    prepared, _ = domain.prepare(project.raw_tables())
    served = set(domain.enrich(pd.DataFrame(records), project.reference_context)[domain.key])
    labels = prepared.loc[prepared[domain.key].isin(served)]
    add_labels(log, dict(zip(labels[domain.key], labels[domain.label], strict=True)))


def serve_into(root: Path, name: str, records: list[dict], labels: bool = True) -> Path:
    """Score records through the real service code in this process, logging to ``name``."""
    project = Project.load(root)
    settings = project.configs.serving.model_copy(
        update={"log_path": f"data/serving/{name}", "mode": "off"}
    )
    service = PredictionService(root, settings)
    try:
        for start in range(0, len(records), 50):
            service.predict(records[start : start + 50])
    finally:
        service.close()
    if labels:
        add_true_labels(root, log_path(root, name), records)
    return log_path(root, name)


SERVE_AND_MONITOR = """
import json, sys
from pathlib import Path
from mlpipe.core.project import Project
from mlpipe.serving.service import PredictionService
from tasks.monitor import monitor
root, name, records = Path(sys.argv[1]), sys.argv[2], json.loads(Path(sys.argv[3]).read_text())
project = Project.load(root)
settings = project.configs.serving.model_copy(
    update={"log_path": f"data/serving/{name}", "mode": "off"})
service = PredictionService(root, settings)
service.predict(records)
service.close()
monitor(project, root / "data" / "serving" / name)
"""


def serve_and_monitor_in_a_fresh_process(root: Path, records: list[dict], tmp: Path) -> dict:
    """Serve records, then monitor them, in a new process: the project's package code as
    it is now on disk both serves and is "today's code" (as in production)."""
    source = tmp / "records.json"
    source.write_text(json.dumps(records))
    subprocess.run(
        [sys.executable, "-c", SERVE_AND_MONITOR, str(root), "changed.db", str(source)],
        cwd=root,
        env=project_env(root),
        check=True,
        capture_output=True,
    )
    return json.loads((root / "reports" / "monitoring" / "report.json").read_text())


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


@pytest.fixture(scope="module")
def later_weeks(project) -> dict:
    return monitor(
        Project.load(project), serve_into(project, "later.db", visits(project, (16, 20), 600))
    )


@pytest.fixture(scope="module")
def training_weeks(project) -> dict:
    """Traffic like the training and validation windows (weeks 1-13)."""
    return monitor(
        Project.load(project), serve_into(project, "train.db", visits(project, (1, 13), 600))
    )


def test_later_weeks_drift_and_training_weeks_do_not(later_weeks, training_weeks):
    later, clean = check(later_weeks, "data drift"), check(training_weeks, "data drift")
    assert later["breached"] and later["details"]["prediction_drifted"]
    assert later["details"]["drifted_features"] == ["minutes"]
    assert not clean["breached"]
    assert clean["details"]["drifted_features"] == []
    assert not clean["details"]["prediction_drifted"]
    assert clean["value"] < later["value"]
    minutes = later["details"]["scores"]["minutes"]
    assert minutes["score"] > 10 * minutes["threshold"]


def test_drift_thresholds_sit_above_sampling_noise_and_match_evidently(training_weeks, tmp_path):
    """In-distribution scores stay under thresholds set from the reference's own noise;
    a shift of half a standard deviation still drifts; Evidently reports the same scores."""
    for column, scores in check(training_weeks, "data drift")["details"]["scores"].items():
        assert 0 < scores["noise floor"] < scores["threshold"], column
        assert scores["score"] < scores["threshold"], column
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b", "c"], 5000)})
    kinds = {"x": "numeric", "c": "categorical"}
    calibration = Calibration(floor=0.1)
    for seed in range(5):
        same = reference.sample(n=200, random_state=seed + 10).assign(
            x=np.random.default_rng(seed).normal(0, 1, 200)
        )
        assert not any(
            s["drifted"] for s in drift_scores(reference, same, kinds, calibration).values()
        )
    shifted = reference.sample(n=200, random_state=1).assign(x=lambda f: f["x"] + 0.5)
    shifted.loc[shifted.index[:80], "c"] = "c"
    scores = drift_scores(reference, shifted, kinds, calibration)
    assert scores["x"]["drifted"] and scores["c"]["drifted"]
    thresholds = {c: s["threshold"] for c, s in scores.items()}
    evidently = evidently_report(reference, shifted, kinds, thresholds, tmp_path / "drift.html")
    assert evidently == pytest.approx({c: s["score"] for c, s in scores.items()}, abs=1e-5)


def test_clean_serving_has_no_skew_no_invariant_breach_and_is_stable(training_weeks):
    skew = check(training_weeks, "training/serving skew")
    assert skew["value"] == 0.0 and skew["details"]["rows"] == 600
    assert "at the model's commit" in skew["details"]["recomputed with"]
    assert not check(training_weeks, "data invariants")["breached"]
    assert not check(training_weeks, "numerical stability")["breached"]


def test_served_quality_is_compared_with_offline(training_weeks, project):
    quality = check(training_weeks, "served quality")
    assert quality["skipped"] is None
    assert quality["details"]["labelled"] >= 400
    assert 0.5 < quality["value"] < 0.9
    champion = Registry(Project.load(project).paths).alias(CHAMPION)
    assert quality["details"]["offline_roc_auc"] == champion.offline_roc_auc
    assert set(quality["details"]["slices"]) <= {"region=north", "region=south", "region=east"}
    assert all(s["rows"] >= 100 for s in quality["details"]["slices"].values())


def test_a_model_older_than_the_allowed_age_is_flagged(later_weeks, training_weeks, project):
    study = json.loads((project / "reports" / "staleness.json").read_text())
    result = check(later_weeks, "model staleness")
    assert result["value"] == 20 - 12
    assert result["breached"] == (study["max_age"] < 8)
    assert result["details"] == {"unit": "week", "train_end": "12", "latest_served": "20"}
    assert check(training_weeks, "model staleness")["value"] == 13 - 12
    assert m.staleness_check(11, 8, 2, "month").breached
    assert not m.staleness_check(9, 8, 2, "month").breached
    assert m.staleness_check(None, 8, 2, "month").skipped


def test_a_changed_package_version_is_reported(project, training_weeks):
    assert not check(training_weeks, "dependency changes")["breached"]
    registry = Registry(Project.load(project).paths)
    version = registry.alias(CHAMPION).version
    registry.set_tag(version, "env.numpy", "1.0.0")
    try:
        result = check(
            monitor(Project.load(project), log_path(project, "train.db")), "dependency changes"
        )
        assert result["breached"]
        assert result["details"]["changed"]["numpy"] == {
            "model": "1.0.0",
            "running": np.__version__,
        }
    finally:
        registry.set_tag(version, "env.numpy", np.__version__)


def test_injected_skew_and_nan_are_caught(project, monkeypatch):
    """The serving code path computes `pages` differently and drops half of `minutes`."""
    registry = Project.load(project).domain.features
    pages, minutes = registry.get("pages").compute, registry.get("minutes").compute
    monkeypatch.setitem(
        registry._features, "pages", Feature("pages", "numeric", lambda f: pages(f) + 1.0, "")
    )
    monkeypatch.setitem(
        registry._features,
        "minutes",
        Feature("minutes", "numeric", lambda f: minutes(f).where(f.index % 2 == 0), ""),
    )
    log = serve_into(project, "skewed.db", visits(project, (1, 12), 200, seed=3), labels=False)
    monkeypatch.undo()
    result = monitor(Project.load(project), log)
    skew = check(result, "training/serving skew")
    assert skew["breached"]
    assert set(skew["details"]["by_feature"]) == {"pages", "minutes"}
    assert skew["details"]["by_feature"]["pages"]["mismatched rows"] == 200
    invariants = check(result, "data invariants")
    assert invariants["breached"]
    assert any("minutes" in failure for failure in invariants["details"]["failures"])


@pytest.mark.checklist("Mo3")
def test_features_computed_from_pseudonymised_fields_are_named_not_compared(project):
    """The log keeps identifiers only as pseudonyms: a feature computed from one cannot be
    recomputed from the log, so skew leaves it out and says so (instead of a false alarm)."""
    from mlpipe.monitoring.recompute import pseudonym_dependent

    loaded = Project.load(project)
    domain = loaded.domain
    digits = Feature(
        "customer_digits", "numeric", lambda f: f["customer_id"].astype(str).str.len(), ""
    )
    domain.features._features["customer_digits"] = digits
    try:
        rows = loaded.raw_tables()["visits"].head(50)[list(domain.serving_fields)]
        names = ["minutes", "customer_digits", "region"]
        assert pseudonym_dependent(domain, loaded.reference_context, rows, names) == [
            "customer_digits"
        ]
    finally:
        del domain.features._features["customer_digits"]


def test_skew_is_measured_against_the_code_the_model_was_trained_with(
    project, training_weeks, tmp_path
):
    """Issue 11 Mo3: a change to the shared feature code after training, committed and
    served, is skew; recomputing with today's code (as before) would report 0.0."""
    features = project / "toydomain" / "features.py"
    original = features.read_text()
    changed = original.replace('return frame["minutes"]', 'return frame["minutes"] * 1.5')
    assert changed != original
    features.write_text(changed)
    git_commit(project, "minutes in another unit")
    try:
        records = visits(project, (1, 12), 100, seed=5)
        result = serve_and_monitor_in_a_fresh_process(project, records, tmp_path)
        skew = check(result, "training/serving skew")
    finally:
        features.write_text(original)
        git_commit(project, "minutes back")
    assert skew["breached"]
    assert set(skew["details"]["by_feature"]) == {"minutes"}
    assert skew["details"]["by_feature"]["minutes"]["mismatched rows"] == 100
    assert skew["details"]["recomputed with"].startswith("toydomain/ at the model's commit")

    registry = Registry(Project.load(project).paths)
    version = registry.alias(CHAMPION)
    registry.set_tag(version.version, "git.commit", "0" * 40)
    try:
        unknown = check(
            monitor(Project.load(project), log_path(project, "train.db")), "training/serving skew"
        )
    finally:
        registry.set_tag(version.version, "git.commit", version.tags["git.commit"])
    assert "today's code of toydomain/" in unknown["details"]["recomputed with"]
    assert "is not in this repository" in unknown["details"]["recomputed with"]


def test_training_time_and_memory_regressions_are_caught(project):
    rules = Project.load(project).configs.monitoring.performance
    runs = [
        {"entry": "mlpipe run", "model_fit_seconds": 1.0 + i / 10, "peak_rss_mb": 300.0}
        for i in range(4)
    ]
    slow = {"entry": "mlpipe run", "model_fit_seconds": 5.0, "peak_rss_mb": 310.0}
    result = m.training_performance_check([*runs, slow], rules)
    assert result.breached and result.value == pytest.approx(5.0 / 1.15, abs=1e-3)
    assert result.details["measures"]["model_fit_seconds"]["regressed"]
    assert not result.details["measures"]["peak_rss_mb"]["regressed"]
    hungry = {"entry": "mlpipe run", "model_fit_seconds": 1.1, "peak_rss_mb": 900.0}
    assert m.training_performance_check([*runs, hungry], rules).breached
    same = {"entry": "mlpipe run", "model_fit_seconds": 1.2, "peak_rss_mb": 320.0}
    assert not m.training_performance_check([*runs, same], rules).breached
    other_way = {**slow, "entry": "mlpipe stage"}  # started differently: not comparable
    assert m.training_performance_check([*runs, other_way], rules).skipped
    assert m.training_performance_check([], rules).skipped
    # the train stage appends its own run to the history monitoring reads
    recorded = history.read(history.training_history(Project.load(project).paths))
    assert recorded and recorded[-1]["model_fit_seconds"] > 0 and recorded[-1]["peak_rss_mb"] > 0


def test_stability_check_catches_nan_predictions_and_inf_features():
    rows = pd.DataFrame({"probability": [0.2, np.nan, 1.5]})
    served = pd.DataFrame({"minutes": [1.0, np.inf, 3.0]})
    result = m.stability_check(rows, served, m.StabilityRules())
    assert result.breached and result.value == {"predictions": 2, "features": 1}
    assert result.details["infinite values by feature"] == {"minutes": 1}


def test_bad_input_gives_clear_messages(project, training_weeks, tmp_path):
    loaded = Project.load(project)
    with pytest.raises(DataError, match="no prediction log"):
        monitor(loaded, tmp_path / "missing.db")
    with pytest.raises(DataError, match="no prediction log"):  # `mlpipe stage monitor 24`
        run_step(["monitor", "24"], project)  # the default log of configs/serving.yaml
    empty = tmp_path / "empty.db"
    connect(empty).close()
    with pytest.raises(DataError, match="no predictions in the window"):
        monitor(loaded, empty)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(log_path(project, "train.db").read_bytes())
    with sqlite3.connect(corrupt) as db:
        db.execute(
            "UPDATE predictions SET features = '{broken' WHERE id IN "
            "(SELECT id FROM predictions WHERE role = 'champion' LIMIT 3)"
        )
    assert monitor(loaded, corrupt)["corrupt_rows"] == 3
    features = project / "data" / "features" / "features.parquet"
    moved = tmp_path / "features.parquet"
    features.rename(moved)
    try:
        with pytest.raises(DataError, match="no drift reference"):
            monitor(loaded, log_path(project, "train.db"))
    finally:
        moved.rename(features)


def test_the_report_shows_readable_details(project, later_weeks):
    monitor(Project.load(project), log_path(project, "later.db"))
    page = (project / "reports" / "monitoring" / "report.html").read_text()
    assert "<table>" in page and "drift.png" in page
    assert '{"' not in page and "{'" not in page  # details are tables, not JSON
    for shown in ("drifted features", "minutes", "noise floor", "region=north", "p99 ms"):
        assert shown in page, shown
    assert "&lt;b&gt;" in html.table(["cell"], [["<b>"]])  # every cell is escaped
    png = (project / "reports" / "monitoring" / "drift.png").read_bytes()
    monitor(Project.load(project), log_path(project, "later.db"))
    assert (project / "reports" / "monitoring" / "drift.png").read_bytes() == png


def set_yaml(path: Path, **values) -> str:
    """Set top-level or dotted keys of a YAML file; returns the old text."""
    text = path.read_text()
    data = yaml.safe_load(text)
    for dotted, value in values.items():
        *parents, key = dotted.split("__")
        node = data
        for parent in parents:
            node = node[parent]
        node[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return text


def test_monitor_command_alerts_fails_and_retrains_on_breach(project, later_weeks, tmp_path):
    """`mlpipe monitor` on drifted traffic: exit 1, alerts and the HTML report written;
    and the feedback loop: with alerts.retrain, the breach runs the training flow on the
    new data, whose candidate is gated and registered like any other. (It retrains: on
    a copy of the module's project, which the other tests keep using.)"""
    project = copy_project(project, tmp_path / "project")
    registry = Registry(Project.load(project).paths)
    before = [v.version for v in registry.versions()]
    set_yaml(project / "params.yaml", domain__options={**RELEASED_OPTIONS, "seed": 1})
    set_yaml(project / "configs" / "monitoring.yaml", alerts__retrain=True)
    set_yaml(project / "configs" / "serving.yaml", log_path="data/serving/later.db")
    git_commit(project, "new data, retrain on a breach")  # registration refuses dirty trees
    done = run_cli(project, "mlpipe", "monitor")
    assert done.returncode == 1, done.stderr
    assert "data drift" in done.stderr and "report: reports/monitoring/report.html" in done.stderr
    assert "features drifted (minutes)" in done.stderr
    monitoring = project / "reports" / "monitoring"
    alerts = (monitoring / "alerts.jsonl").read_text().splitlines()
    assert any("data drift" in line for line in alerts)
    assert (monitoring / "drift.html").stat().st_size > 10000
    assert "<table>" in (monitoring / "report.html").read_text()

    new = [v for v in registry.versions() if v.version not in before]
    assert len(new) == 1, done.stderr
    assert new[0].passed_gate
    assert json.loads((project / "reports" / "registration.json").read_text())["new"]
    assert registry.alias(CHAMPION).version == before[0]  # a challenger, not promoted
