"""The prediction service, for real: a `mlpipe serve` subprocess on 127.0.0.1 serving the
registry's champion, with a challenger in shadow and canary modes (checklist I6, I7, Mo2,
Mo6, D5), on the toy domain."""

from __future__ import annotations

import functools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from mlpipe.core.configs import ServingSettings
from mlpipe.core.io import read_json, write_json
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.privacy import KEY_FILE, PREFIX, pseudonym_key, pseudonymise
from mlpipe.core.project import Project
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.core.tracking import tracking_settings
from mlpipe.release.aliases import promote, rollback
from mlpipe.serving.predictionlog import SCHEMA, PredictionLog, read_window
from mlpipe.serving.service import PredictionService
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


class Raises:
    """A challenger that fails on every call."""

    def predict_proba(self, frame):
        raise RuntimeError("challenger exploded")


class Hangs:
    """A challenger that takes far too long."""

    def predict_proba(self, frame):
        time.sleep(5)
        return np.tile([0.5, 0.5], (len(frame), 1))


class NeedsConstOne:
    """A challenger reading a feature the champion does not use (`const_one`)."""

    def predict_proba(self, frame):
        assert (frame["const_one"] == 1.0).all()
        return np.tile([0.25, 0.75], (len(frame), 1))


def set_serving(root: Path, **changes) -> None:
    path = root / "configs" / "serving.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.update(changes)
    path.write_text(yaml.safe_dump(settings))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Champion v1 and an equally good challenger v2, registered for real."""
    root = make_project(tmp_path_factory.mktemp("serving") / "project")
    run_pipeline(root, release=True)
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
def domain(project):
    return Project.load(project).domain


@pytest.fixture(scope="module")
def service(project):
    client, process = start_serving(project)
    yield client, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    client.close()


def start_serving(project: Path) -> tuple[httpx.Client, subprocess.Popen]:
    """`mlpipe serve` on a free port, with the API key set; once it is ready."""
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
    return client, process


@functools.cache
def holdout_rows(project: Path) -> pd.DataFrame:
    fields = list(Project.load(project).domain.serving_fields)
    visits = pd.read_parquet(project / "data" / "raw" / "visits.parquet")
    return visits.loc[visits["week"] >= 16, fields]


def holdout(project: Path, n: int, offset: int = 0) -> list[dict]:
    """Raw request records of the holdout weeks (16..20), serving fields only."""
    return json.loads(holdout_rows(project).iloc[offset : offset + n].to_json(orient="records"))


def log_rows(project: Path, query: str, *args) -> list[tuple]:
    with sqlite3.connect(project / "data" / "serving" / "predictions.db") as db:
        return db.execute(query, args).fetchall()


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def register_challenger(project: Path, model, name: str, extra_features: tuple = ()) -> str:
    """Register a hand-made model straight into the registry as challenger."""
    import cloudpickle
    import mlflow

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
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
        "model.features": json.dumps([*champion.features, *extra_features]),
        "model.threshold": "0.5",
        "gate.verdict": "failed",
        "gate.forced_reason": f"test: {name}",
    }
    version = registry.register(info.model_uri, None, tags, name)
    with registry.lock():
        registry.move_alias(CHALLENGER, version.version, "register", f"test: {name}")
    return version.version


def served_by(client: httpx.Client, version: str, role: str = CHAMPION) -> bool:
    return client.get("/metadata").json()["models"].get(role, {}).get("version") == version


def set_challenger(project: Path, version: str, why: str) -> None:
    registry = Registry(ProjectPaths(project))
    with registry.lock():
        registry.move_alias(CHALLENGER, version, "test", why)


def start_from(client: httpx.Client, project: Path, champion: str, challenger: str) -> None:
    """Aliases as a test needs them, whatever earlier tests did (pytest may reorder)."""
    registry = Registry(ProjectPaths(project))
    with registry.lock():
        registry.move_alias(CHAMPION, champion, "test", "test setup")
        registry.move_alias(CHALLENGER, challenger, "test", "test setup")
    wait_for(lambda: served_by(client, champion) and served_by(client, challenger, CHALLENGER))


# --- no service needed ----------------------------------------------------------------


@pytest.mark.checklist("D5")
def test_pseudonyms_are_stable_keyed_and_leave_other_columns_alone():
    records = [{"who": "c1", "age": "18-34", "n": 3}, {"who": "c1", "age": None, "n": 4}]
    hidden = pseudonymise(records, ["who", "age", "absent"], b"key")
    assert hidden[0]["who"] == hidden[1]["who"] != "c1"
    assert hidden[0]["who"].startswith(PREFIX)
    assert hidden[1]["age"] is None and [r["n"] for r in hidden] == [3, 4]
    assert pseudonymise(records, ["who"], b"other")[0]["who"] != hidden[0]["who"]
    frame = pseudonymise(pd.DataFrame(records), ["who"], b"key")
    assert frame["who"].tolist() == [hidden[0]["who"]] * 2
    assert records[0]["who"] == "c1"  # the input is not changed


@pytest.mark.checklist("D5")
def test_the_pseudonym_key_comes_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", "shared secret")
    assert pseudonym_key(tmp_path, "TEST_PSEUDONYM_KEY") == b"shared secret"
    assert not (tmp_path / KEY_FILE).exists()
    monkeypatch.delenv("TEST_PSEUDONYM_KEY")
    first = pseudonym_key(tmp_path, "TEST_PSEUDONYM_KEY")
    assert len(first) == 64 and pseudonym_key(tmp_path, "TEST_PSEUDONYM_KEY") == first
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / KEY_FILE).parent.iterdir()] == [KEY_FILE.name]


def test_an_old_prediction_log_gains_the_model_ms_column(tmp_path):
    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace("    model_ms REAL,\n", "")
    assert old_schema != SCHEMA
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        db.execute(
            "INSERT INTO predictions (request_id, ts, role, served, latency_ms) "
            "VALUES ('old', 1.0, 'champion', 1, 3.0)"
        )
    log = PredictionLog(path)
    log.write([{"request_id": "new", "ts": 2.0, "role": "champion", "served": 1, "model_ms": 1.5}])
    log.close()
    rows = read_window(path)
    assert rows["request_id"].tolist() == ["old", "new"]
    assert rows["model_ms"].isna().tolist() == [True, False]


# --- the served subprocess ------------------------------------------------------------


def test_health_ready_metadata(service, project):
    client, _ = service
    start_from(client, project, champion="1", challenger="2")
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "champion": "1"}
    meta = client.get("/metadata").json()
    assert meta["mode"] == "shadow"
    assert meta["models"]["champion"]["version"] == "1"
    assert meta["models"]["challenger"]["version"] == "2"
    assert meta["models"]["champion"]["lineage"]["gate.verdict"] == "passed"
    assert meta["models"]["challenger"]["problem"] is None


def test_predictions_equal_the_offline_model(service, project, domain):
    """Served probabilities = the champion's offline predictions on the pipeline's own
    feature rows for the same visits (one feature code path)."""
    client, _ = service
    records = holdout(project, 40)
    single = client.post("/predict", json=records[0]).json()["predictions"]
    batch = client.post("/predict", json={"records": records}).json()["predictions"]
    assert single[0] == batch[0]
    features = pd.read_parquet(project / "data" / "features" / "features.parquet")
    registry = Registry(ProjectPaths(project))
    champion = registry.alias(CHAMPION)
    model = registry.load_model(champion.version)
    by_key = features.set_index(domain.key)
    served = {p["key"]: p["probability"] for p in batch}
    assert len(served) == 40 and set(served) <= set(by_key.index)
    offline = model.predict_proba(by_key.loc[list(served), champion.features])[:, 1]
    np.testing.assert_allclose(list(served.values()), offline, atol=1e-6)
    assert {p["model_role"] for p in batch} == {CHAMPION}


@pytest.mark.checklist("I6")
def test_shadow_scores_both_and_answers_with_the_champion(service, project):
    client, _ = service
    start_from(client, project, champion="1", challenger="2")
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


@pytest.mark.checklist("D5")
def test_the_log_keeps_identifiers_and_sensitive_values_pseudonymised(service, project, domain):
    client, _ = service
    records = holdout(project, 60, 300)
    request_id = client.post("/predict", json={"records": records}).json()["request_id"]
    wait_for(
        lambda: log_rows(project, "SELECT 1 FROM predictions WHERE request_id = ?", request_id)
    )
    logged = log_rows(
        project,
        "SELECT key, inputs, features FROM predictions WHERE request_id = ? AND role = ?",
        request_id,
        CHAMPION,
    )
    private = [*domain.identifiers, *domain.sensitive]
    assert private == ["customer_id", "age_band"]
    clear = {str(r[column]) for r in records for column in private}
    pseudonym_of: dict[str, set[str]] = {}
    for (key, inputs, features), record in zip(logged, records, strict=True):
        assert key == f"v{record['visit_id']}"
        stored = json.loads(inputs)
        values = [*stored.values(), *json.loads(features).values()]
        assert not clear & {str(value) for value in values}
        assert stored["region"] == record["region"]  # other fields stay readable
        for column in private:
            assert stored[column].startswith(PREFIX)
            pseudonym_of.setdefault(record[column], set()).add(stored[column])
    assert all(len(names) == 1 for names in pseudonym_of.values())  # one value, one pseudonym
    assert len({next(iter(n)) for n in pseudonym_of.values()}) == len(pseudonym_of)
    key_file = project / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.checklist("Mo6")
def test_latency_covers_the_whole_request_and_model_ms_the_model(service, project):
    client, _ = service
    request_id = client.post("/predict", json={"records": holdout(project, 20)}).json()[
        "request_id"
    ]
    wait_for(
        lambda: log_rows(project, "SELECT 1 FROM predictions WHERE request_id = ?", request_id)
    )
    latency, model = log_rows(
        project,
        "SELECT latency_ms, model_ms FROM predictions WHERE request_id = ? AND role = ?",
        request_id,
        CHAMPION,
    )[0]
    assert 0 < model < latency


@pytest.mark.checklist("Mo6")
def test_a_slow_feature_shows_in_latency_but_not_in_model_time(project, tmp_path, monkeypatch):
    """In process, with the feature registry's `pages` made 0.2 s slower."""
    settings = ServingSettings(mode="off", log_path=str(tmp_path / "log.db"))
    service = PredictionService(project, settings)
    try:
        registry = service.domain.features
        pages = registry.get("pages")

        def slow(frame: pd.DataFrame) -> pd.Series:
            time.sleep(0.2)
            return pages.compute(frame)

        monkeypatch.setitem(registry._features, "pages", replace(pages, compute=slow))
        service.predict(holdout(project, 5))
    finally:
        service.close()
    rows = read_window(tmp_path / "log.db")
    assert len(rows) == 5
    assert (rows["latency_ms"] >= 200).all()
    assert (rows["model_ms"] < 100).all()


def test_bad_requests_get_clear_4xx(service, project):
    client, _ = service
    good = holdout(project, 1)[0]
    cases = [
        (b"{not json", 400, "malformed JSON"),
        ({k: v for k, v in good.items() if k != "region"}, 422, "region"),
        ({**good, "minutes": "long"}, 422, "minutes"),
        ({**good, "week": 61}, 422, "week"),
        ({**good, "region": "west"}, 422, "region"),
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
    record = {**holdout(project, 1)[0], "minutes": None}  # allowed in a request, not a feature
    response = client.post("/predict", json=record).json()
    assert response["predictions"][0]["probability"] is not None
    assert "minutes: missing" in next(iter(response["warnings"].values()))
    metrics = client.get("/metrics").text
    assert 'mlpipe_input_violations_total{rule="minutes: missing"}' in metrics


@pytest.mark.checklist("I6")
def test_a_challenger_that_raises_hangs_or_cannot_be_computed_never_touches_responses(
    service, project
):
    """I6: champion responses stay fast and the champion's, whatever the challenger does;
    one needing a feature the registry does not know is reported and skipped."""
    client, _ = service
    challengers = (
        (Raises(), "raises", (), "exploded"),
        (Hangs(), "hangs", (), None),
        (NeedsConstOne(), "unknown feature", ("const_one",), "const_one"),
    )
    for model, name, extra, error in challengers:
        version = register_challenger(project, model, name, extra)
        wait_for(lambda v=version: served_by(client, v, CHALLENGER))
        for _ in range(3):
            start = time.perf_counter()
            response = client.post("/predict", json={"records": holdout(project, 3)})
            assert response.status_code == 200
            assert time.perf_counter() - start < 2
            assert {p["model_role"] for p in response.json()["predictions"]} == {CHAMPION}
        if error:  # before it is replaced: work queued for it is then dropped
            wait_for(
                lambda v=version, e=error: (
                    log_rows(
                        project,
                        "SELECT COUNT(*) FROM predictions "
                        "WHERE role = 'challenger' AND version = ? AND error LIKE ?",
                        v,
                        f"%{e}%",
                    )[0][0]
                    >= 9
                ),
                seconds=90,
            )
    problem = client.get("/metadata").json()["models"]["challenger"]["problem"]
    assert "const_one" in problem
    assert f'mlpipe_model_errors_total{{role="challenger",version="{version}"}} 3.0' in (
        client.get("/metrics").text
    )
    set_challenger(project, "2", "restore the good challenger")
    wait_for(lambda: served_by(client, "2", CHALLENGER))


@pytest.mark.checklist("I6")
def test_a_challengers_own_feature_is_computed_for_it_alone(project, tmp_path, monkeypatch):
    """In process, in canary mode for every key, with `const_one` now known to the feature
    registry: the challenger gets its extra feature, the champion's features stay its own."""
    registry = Project.load(project).domain.features
    const_one = replace(
        registry.get("pages"), name="const_one", compute=lambda f: pd.Series(1.0, index=f.index)
    )
    monkeypatch.setitem(registry._features, "const_one", const_one)
    version = register_challenger(project, NeedsConstOne(), "own feature", ("const_one",))
    settings = ServingSettings(
        mode="canary",
        canary_fraction=1.0,
        challenger_timeout_seconds=30,  # a busy machine must not make it fall back
        log_path=str(tmp_path / "l.db"),
    )
    service = PredictionService(project, settings)
    try:
        assert service.state.challenger.problem is None
        answers = service.predict(holdout(project, 4))["predictions"]
    finally:
        service.close()
        set_challenger(project, "2", "restore the good challenger")
    assert {(a["model_version"], a["probability"]) for a in answers} == {(version, 0.75)}
    logged = read_window(tmp_path / "l.db")
    champion_features = json.loads(logged.loc[logged["role"] == CHAMPION, "features"].iloc[0])
    assert "const_one" not in champion_features
    assert logged.loc[logged["role"] == CHALLENGER, "error"].isna().all()


@pytest.mark.checklist("I6")
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


@pytest.mark.checklist("I7")
def test_a_rollback_is_picked_up_without_restart(service, project):
    client, process = service
    start_from(client, project, champion="1", challenger="2")
    registry = Registry(ProjectPaths(project))
    promote(registry, "2")
    wait_for(lambda: served_by(client, "2"))
    rollback(registry, why="test: back to v1")
    wait_for(lambda: served_by(client, "1"))
    response = client.post("/predict", json=holdout(project, 1)[0]).json()
    assert response["predictions"][0]["model_version"] == "1"
    assert process.poll() is None
    set_challenger(project, "2", "challenger again")
    wait_for(lambda: served_by(client, "2", CHALLENGER))


def test_bounded_load_has_no_server_errors(project):
    """On a service of its own: the burst fills the shadow backlog, and for a while after
    it new shadow scorings are dropped (by design, and counted), which must not decide the
    outcome of a test that runs next on a shared service."""
    client, process = start_serving(project)
    records = holdout(project, 200, 600)

    def call(i: int) -> int:
        return client.post("/predict", json=records[i % len(records)]).status_code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(400)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        client.close()
    assert statuses.count(200) == 400


@pytest.mark.checklist("I6")
def test_replay_and_promotion_flow(service, project):
    client, _ = service
    start_from(client, project, champion="1", challenger="2")
    port = client.base_url.port
    done = run_cli(
        project,
        "env",
        f"MLPIPE_API_KEY={API_KEY}",
        "mlpipe",
        "replay",
        "--url",
        f"http://127.0.0.1:{port}",
        "--window",
        "16..20",
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
                "ON l.key = p.key WHERE p.role = 'challenger' AND p.version = '2' "
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
    evidence = read_json(project / "reports" / "promotion" / "review.json")
    assert evidence["decision"] == "promote" and evidence["challenger_version"] == "2"


def mlpipe_promote(project: Path, *args: str) -> tuple[int, str]:
    """`mlpipe promote ARGS` in this process (the real command, without paying the CLI's
    imports again): exit code and output."""
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["promote", *args], env={"MLPIPE_ROOT": str(project)})
    return result.exit_code, result.output


@pytest.mark.checklist("I6")
def test_promote_needs_the_reviews_evidence_or_force(service, project):
    """`mlpipe promote` rests on a recent review deciding "promote" for that challenger
    against that champion; --force --reason overrides it, recorded in the audit."""
    client, _ = service
    start_from(client, project, champion="2", challenger="1")
    path = project / "reports" / "promotion" / "review.json"
    review = {  # as `mlpipe review` writes it: v2 judged against v1, and promoted
        "decision": "promote",
        "reasons": ["every criterion holds"],
        "challenger_version": "2",
        "champion_version": "1",
        "stats": {},
        "reviewed_at": datetime.now(UTC).isoformat(),
    }
    write_json(path, review)

    code, output = mlpipe_promote(project)
    assert code == 1
    assert "judged v2, not v1" in output and "champion is v2 now" in output

    stale = datetime.now(UTC) - timedelta(hours=30)
    matching = {**review, "challenger_version": "1", "champion_version": "2"}
    write_json(path, {**matching, "reviewed_at": stale.isoformat()})
    code, output = mlpipe_promote(project)
    assert code == 1 and "30.0 h old (at most 24 h)" in output

    write_json(path, {**matching, "reviewed_at": datetime.now(UTC).isoformat()})
    code, output = mlpipe_promote(project)
    assert code == 0, output
    assert "champion: v2 -> v1" in output
    wait_for(lambda: served_by(client, "1"))

    set_challenger(project, "2", "test: evidence")
    code, output = mlpipe_promote(project, "--force", "--reason", "test: forced")
    assert code == 0, output
    moves = [e for e in Registry(ProjectPaths(project)).history() if e.alias == CHAMPION]
    assert (moves[-1].action, moves[-1].to_version, moves[-1].why) == (
        "promote",
        "2",
        "test: forced",
    )
    wait_for(lambda: served_by(client, "2"))


def test_clean_shutdown_loses_no_prediction(project):
    """Its own service (the module's stays up for the other tests, in any order)."""
    client, process = start_serving(project)
    before = log_rows(project, "SELECT COUNT(*) FROM predictions WHERE role = 'champion'")[0][0]
    for i in range(20):
        client.post("/predict", json={"records": holdout(project, 5, 1000 + 5 * i)})
    client.close()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    after = log_rows(project, "SELECT COUNT(*) FROM predictions WHERE role = 'champion'")[0][0]
    assert after - before == 100
