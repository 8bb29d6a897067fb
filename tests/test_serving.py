"""The prediction service, for real: a `mlpipe serve` subprocess on 127.0.0.1 serving the
registry's champion, with a challenger in shadow and canary modes (checklist I6, I7, Mo2)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from flights import SERVING_FIELDS
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.core.tracking import tracking_settings
from mlpipe.release.aliases import rollback
from tasks import run_step
from tests.helpers import (
    free_port,
    make_project,
    project_env,
    replace_model,
    run_cli,
    run_pipeline,
    train,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serving")]

API_KEY = "test-key"
FIELDS = list(SERVING_FIELDS)


class Raises:
    """A challenger that fails on every call."""

    def predict_proba(self, frame):
        raise RuntimeError("challenger exploded")


class Hangs:
    """A challenger that takes far too long."""

    def predict_proba(self, frame):
        time.sleep(5)
        return np.tile([0.5, 0.5], (len(frame), 1))


def set_serving(root: Path, **changes) -> None:
    path = root / "configs" / "serving.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.update(changes)
    path.write_text(yaml.safe_dump(settings))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Champion v1 and an equally good challenger v2, registered for real."""
    root = make_project(tmp_path_factory.mktemp("serving") / "project")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    run_pipeline(root)
    run_step(["gate"], root)
    run_step(["register"], root)
    replace_model(root, train(root, random_state=5))
    run_step(["gate"], root)
    assert run_step(["register"], root)["alias"] == CHALLENGER
    set_serving(
        root,
        mode="shadow",
        reload_seconds=0.3,
        max_records=200,
        max_body_bytes=300_000,
        promotion={
            "min_compared": 50,
            "min_agreement": 0.8,
            "max_error_rate": 0.01,
            "max_p99_latency_ms": 1000,
            "min_labelled": 30,
            "max_quality_drop": 0.01,
        },
    )
    return root


@pytest.fixture(scope="module")
def service(project):
    port = free_port()
    env = {**project_env(project), "MLPIPE_API_KEY": API_KEY}
    process = subprocess.Popen(
        ["mlpipe", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"X-API-Key": API_KEY}
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if client.get("/ready").status_code == 200:
                break
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read()) from None
        time.sleep(0.3)
    yield client, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    client.close()


def holdout(project: Path, n: int, offset: int = 0) -> list[dict]:
    flights = pd.read_parquet(project / "data" / "raw" / "flights.parquet")
    rows = flights.loc[flights["month"] >= 11, FIELDS].iloc[offset : offset + n]
    return json.loads(rows.to_json(orient="records"))


def log_rows(project: Path, query: str, *args) -> list[tuple]:
    with sqlite3.connect(project / "data" / "serving" / "predictions.db") as db:
        return db.execute(query, args).fetchall()


def wait_for(condition, seconds: float = 15) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def register_challenger(project: Path, model, name: str) -> str:
    """Register a hand-made model straight into the registry as challenger."""
    settings = tracking_settings(ProjectPaths(project))
    mlflow.set_tracking_uri(settings.tracking_uri)
    registry = Registry(ProjectPaths(project))
    champion = registry.alias(CHAMPION)
    with mlflow.start_run(
        experiment_id=mlflow.get_experiment_by_name(settings.experiment).experiment_id,
        run_name=name,
    ):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
    tags = {
        "model.features": champion.tags["model.features"],
        "model.threshold": "0.5",
        "gate.verdict": "failed",
        "gate.forced_reason": f"test: {name}",
    }
    version = registry.register(info.model_uri, None, tags, name)
    with registry.lock():
        registry.move_alias(CHALLENGER, str(version.version), "register", f"test: {name}")
    return str(version.version)


def served_by(client: httpx.Client, version: str, role: str = CHAMPION) -> bool:
    return client.get("/metadata").json()["models"].get(role, {}).get("version") == version


def test_health_ready_metadata(service):
    client, _ = service
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "champion": "1"}
    meta = client.get("/metadata").json()
    assert meta["mode"] == "shadow"
    assert meta["models"]["champion"]["version"] == "1"
    assert meta["models"]["challenger"]["version"] == "2"
    assert meta["models"]["champion"]["lineage"]["gate.verdict"] == "passed"


def test_predictions_equal_the_offline_model(service, project):
    """Served probabilities = the champion's offline predictions on the pipeline's own
    feature rows for the same flights (one feature code path)."""
    client, _ = service
    records = holdout(project, 40)
    single = client.post("/predict", json=records[0]).json()["predictions"]
    batch = client.post("/predict", json={"records": records}).json()["predictions"]
    assert single[0] == batch[0]
    features = pd.read_parquet(project / "data" / "features" / "features.parquet")
    registry = Registry(ProjectPaths(project))
    model = mlflow.sklearn.load_model(f"models:/{registry.name}@{CHAMPION}")
    names = json.loads(registry.alias(CHAMPION).tags["model.features"])
    by_key = features.set_index("flight_key")
    served = {p["key"]: p["probability"] for p in batch}
    known = [key for key in served if key in by_key.index]  # cancelled flights have no row
    assert len(known) >= 35
    offline = model.predict_proba(by_key.loc[known, names])[:, 1]
    np.testing.assert_allclose([served[k] for k in known], offline, atol=1e-6)
    assert {p["model_role"] for p in batch} == {CHAMPION}


def test_shadow_scores_both_and_answers_with_the_champion(service, project):
    client, _ = service
    response = client.post("/predict", json={"records": holdout(project, 5, 100)}).json()
    assert {p["model_version"] for p in response["predictions"]} == {"1"}
    request_id = response["request_id"]
    wait_for(
        lambda: (
            len(log_rows(project, "SELECT role FROM predictions WHERE request_id = ?", request_id))
            == 10
        )
    )
    roles = log_rows(
        project,
        "SELECT role, version, served, mode FROM predictions WHERE request_id = ? ORDER BY role",
        request_id,
    )
    assert {r[:3] for r in roles} == {(CHALLENGER, "2", 0), (CHAMPION, "1", 1)}


def test_bad_requests_get_clear_4xx(service, project):
    client, _ = service
    good = holdout(project, 1)[0]
    cases = [
        (b"{not json", 400, "malformed JSON"),
        ({k: v for k, v in good.items() if k != "origin"}, 422, "origin"),
        ({**good, "distance": "far"}, 422, "distance"),
        ({**good, "month": 13}, 422, "month"),
        ({**good, "carrier": "ZZ"}, 422, "carrier"),
        ({**good, "surprise": 1}, 422, "surprise"),
        ({"records": []}, 422, "expected"),
        ({"records": [good] * 201}, 413, "limit"),
        ({"records": [good] * 199, "padding": "x" * 300_000}, 413, "exceeds"),
    ]
    for body, status, words in cases:
        if isinstance(body, bytes):
            response = client.post("/predict", content=body)
        else:
            response = client.post("/predict", json=body)
        assert response.status_code == status, body if len(str(body)) < 300 else words
        assert words in response.text
    unauthorised = httpx.post(f"{client.base_url}/predict", json=good)
    assert unauthorised.status_code == 401


def test_input_invariant_violations_are_counted_not_hidden(service, project):
    client, _ = service
    record = {
        **holdout(project, 1)[0],
        "sched_dep_time": 2399,
        "sched_arr_time": 2359,
        "dest": "ZZZ",
    }
    response = client.post("/predict", json=record).json()
    assert response["predictions"][0]["probability"] is not None
    metrics = client.get("/metrics").text
    assert "mlpipe_input_violations_total" in metrics


def test_a_challenger_that_raises_or_hangs_never_touches_responses(service, project):
    client, _ = service
    for model, name in ((Raises(), "raises"), (Hangs(), "hangs")):
        version = register_challenger(project, model, name)
        wait_for(lambda v=version: served_by(client, v, CHALLENGER))
        for _ in range(3):
            start = time.perf_counter()
            response = client.post("/predict", json={"records": holdout(project, 3)})
            assert response.status_code == 200
            assert time.perf_counter() - start < 2
            assert {p["model_role"] for p in response.json()["predictions"]} == {CHAMPION}
        if name == "raises":  # before it is replaced: work queued for it is then dropped
            wait_for(
                lambda: (
                    log_rows(
                        project,
                        "SELECT COUNT(*) FROM predictions "
                        "WHERE role = 'challenger' AND error LIKE '%exploded%'",
                    )[0][0]
                    >= 3
                ),
                seconds=90,
            )
    registry = Registry(ProjectPaths(project))
    with registry.lock():
        registry.move_alias(CHALLENGER, "2", "test", "restore the good challenger")
    wait_for(lambda: served_by(client, "2", CHALLENGER))


def test_canary_splits_traffic_stickily(service, project):
    client, _ = service
    set_serving(project, mode="canary", canary_fraction=0.3)
    wait_for(lambda: client.get("/metadata").json()["mode"] == "canary")
    records = holdout(project, 400, 200)
    first = client.post("/predict", json={"records": records[:200]}).json()["predictions"]
    second = client.post("/predict", json={"records": records[200:]}).json()["predictions"]
    share = np.mean([p["model_role"] == CHALLENGER for p in first + second])
    assert 0.22 < share < 0.38
    again = client.post("/predict", json={"records": records[:200]}).json()["predictions"]
    assert [p["model_role"] for p in again] == [p["model_role"] for p in first]
    set_serving(project, mode="shadow")
    wait_for(lambda: client.get("/metadata").json()["mode"] == "shadow")


def test_a_rollback_is_picked_up_without_restart(service, project):
    client, process = service
    registry = Registry(ProjectPaths(project))
    from mlpipe.release.aliases import promote

    promote(registry, "2")
    wait_for(lambda: served_by(client, "2"))
    rollback(registry, why="test: back to v1")
    wait_for(lambda: served_by(client, "1"))
    response = client.post("/predict", json=holdout(project, 1)[0]).json()
    assert response["predictions"][0]["model_version"] == "1"
    assert process.poll() is None
    with registry.lock():
        registry.move_alias(CHALLENGER, "2", "test", "challenger again")
    wait_for(lambda: served_by(client, "2", CHALLENGER))


def test_bounded_load_has_no_server_errors(service, project):
    client, _ = service
    records = holdout(project, 200, 600)

    def call(i: int) -> int:
        return client.post("/predict", json=records[i % len(records)]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(400)))
    assert statuses.count(200) == 400


def test_replay_and_promotion_flow(service, project):
    client, _ = service
    port = client.base_url.port
    done = run_cli(
        project,
        "env",
        f"MLPIPE_API_KEY={API_KEY}",
        "mlpipe",
        "replay",
        "--url",
        f"http://127.0.0.1:{port}",
        "--limit",
        "150",
        "--batch",
        "25",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sent 150 records" in done.stdout
    labelled = log_rows(project, "SELECT COUNT(*) FROM labels")[0][0]
    assert labelled > 100
    wait_for(
        lambda: (
            log_rows(
                project,
                "SELECT COUNT(*) FROM predictions p JOIN labels l "
                "ON l.key = p.key WHERE p.role = 'challenger' "
                "AND p.error IS NULL",
            )[0][0]
            >= 100
        ),
        seconds=90,
    )
    review = run_cli(project, "mlpipe", "review")
    assert review.returncode == 0, review.stderr[-3000:]
    assert review.stdout.startswith("promote: promoted v2"), review.stdout
    wait_for(lambda: served_by(client, "2"))
    assert (
        json.loads((project / "reports" / "promotion" / "review.json").read_text())["decision"]
        == "promote"
    )


def test_clean_shutdown_loses_no_prediction(service, project):
    client, process = service
    before = log_rows(project, "SELECT COUNT(*) FROM predictions WHERE role = 'champion'")[0][0]
    for i in range(20):
        client.post("/predict", json={"records": holdout(project, 5, 1000 + 5 * i)})
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    after = log_rows(project, "SELECT COUNT(*) FROM predictions WHERE role = 'champion'")[0][0]
    assert after - before == 100
