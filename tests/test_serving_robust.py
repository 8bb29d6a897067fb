"""The service under hostile requests and hard stops (issue 12): every request gets a JSON
answer and never a 500 (in process, the real app through Starlette's TestClient, fuzzed
by Hypothesis), and a stop is bounded and leaves no process behind (a real `mlpipe serve`
with a real hanging challenger), on the toy domain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from mlpipe.core.configs import ServingSettings
from mlpipe.serving.app import create_app, read_body
from mlpipe.serving.contract import RowRules
from mlpipe.serving.parsing import BadRequest
from tests.helpers import free_port, make_project, project_env, run_pipeline
from tests.test_serving import Hangs, holdout, register_challenger

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serving")]

KEY_ENV = "MLPIPE_ROBUST_TEST_KEY"
KEY = "robust-key"
FUZZ_EXAMPLES = 300


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A champion (v1) registered for real; no challenger until a test adds one."""
    root = make_project(tmp_path_factory.mktemp("robust") / "project")
    run_pipeline(root, release=True)
    return root


def settings_for(tmp: Path, **changes) -> ServingSettings:
    return ServingSettings(
        mode="off",
        api_key_env=KEY_ENV,
        max_records=50,
        max_body_bytes=300_000,
        log_path=str(tmp / "log.db"),
        **changes,
    )


@pytest.fixture(scope="module")
def client(project, tmp_path_factory):
    from fastapi.testclient import TestClient

    os.environ[KEY_ENV] = KEY
    app = create_app(project, settings_for(tmp_path_factory.mktemp("log")))
    try:
        with TestClient(app, headers={"X-API-Key": KEY}, raise_server_exceptions=False) as test:
            yield test
    finally:
        os.environ.pop(KEY_ENV, None)


def post(client, path: str, body: bytes, **headers):
    return client.post(path, content=body, headers={"Content-Type": "application/json", **headers})


# --- the findings of issue 12, one by one ---------------------------------------------


def test_hostile_bodies_get_a_4xx_naming_the_problem(client, project):
    good = holdout(project, 1)[0]
    record = json.dumps(good, separators=(",", ":"))
    cases = [
        (record.replace(f'"week":{good["week"]}', '"week":' + "9" * 5000), 422, "week"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper"),
        ("[" * 40 + record + "]" * 40, 422, "nested deeper"),
        (record.replace(f'"week":{good["week"]}', '"week":1e400'), 422, "out of range"),
        (record.replace(f'"week":{good["week"]}', '"week":NaN'), 400, "NaN is not JSON"),
        (record.replace('"region":"', '"region":"\\udc00'), 422, "region"),
        (b'{"region": "\xff"}', 400, "not UTF-8"),
        (record.replace('"region":', '"\\ud800":1,"region":'), 422, "surrogate"),
    ]
    for body, status, words in cases:
        body = body if isinstance(body, bytes) else body.encode()
        response = post(client, "/predict", body)
        assert response.status_code == status, (words, response.text[:300])
        assert words in response.text, response.text[:300]
    labels = post(client, "/labels", b'{"\\ud800": 1, "ok": 7}')
    assert labels.status_code == 422
    assert {"loc": ["\\ud800"], "msg": "key with an unpaired surrogate"} in labels.json()["detail"]
    assert post(client, "/labels", b'{"ok": 7}').json()["detail"][0]["loc"] == ["ok"]


def test_the_api_key_is_checked_before_the_body_and_guards_metadata_and_metrics(
    client, project, tmp_path
):
    hostile = b"[" * 100_000 + b"]" * 100_000
    for path in ("/predict", "/labels"):
        assert post(client, path, hostile, **{"X-API-Key": "wrong"}).status_code == 401
    for path in ("/metadata", "/metrics"):
        assert client.get(path, headers={"X-API-Key": ""}).status_code == 401
        assert client.get(path).status_code == 200
    assert client.get("/health", headers={"X-API-Key": ""}).status_code == 200
    from fastapi.testclient import TestClient

    scraped = create_app(project, settings_for(tmp_path, metrics_open=True))
    with TestClient(scraped) as anonymous:
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/metadata").status_code == 401


def test_the_body_limit_holds_while_the_body_streams_in():
    """A 100 MB body in 64 KB chunks: refused after the chunk that crosses the limit."""
    chunk, sent = b" " * 65_536, []

    async def receive() -> dict:
        sent.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(sent) < 1600}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    import asyncio

    with pytest.raises(BadRequest) as refused:
        asyncio.run(read_body(request, 1_000_000))
    assert refused.value.status == 413
    assert sum(sent) <= 1_000_000 + len(chunk)
    declared = Request(
        {"type": "http", "method": "POST", "headers": [(b"content-length", b"300000000")]},
        receive,
    )
    sent.clear()
    with pytest.raises(BadRequest, match="300000000 bytes exceeds"):
        asyncio.run(read_body(declared, 1_000_000))
    assert sent == []


def test_fields_that_must_agree_are_checked_by_the_domains_hook(client, project):
    good = holdout(project, 2)
    app_service = client.app.state.service
    original = app_service.domain
    app_service.domain = original.model_copy(
        update={"check_request": lambda r: {"week": "disagrees"} if r["week"] > 17 else {}}
    )
    try:
        body = json.dumps({"records": [{**good[0], "week": 16}, {**good[1], "week": 18}]})
        response = post(client, "/predict", body.encode())
    finally:
        app_service.domain = original
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["records", 1, "week"], "msg": "disagrees"}]


def test_an_unexpected_error_is_a_counted_json_500(client, project):
    class Broken:
        def predict_proba(self, frame):
            raise MemoryError("out of memory")

    service = client.app.state.service
    state = service.state
    service.state = replace(state, champion=replace(state.champion, model=Broken(), runtime=None))
    try:
        response = post(client, "/predict", json.dumps(holdout(project, 1)[0]).encode())
    finally:
        service.state = state
    assert response.status_code == 500
    assert "unexpected error" in response.json()["detail"]
    metrics = client.get("/metrics").text
    assert 'mlpipe_requests_total{path="/predict",status="500"}' in metrics
    assert post(client, "/predict", json.dumps(holdout(project, 1)[0]).encode()).is_success


# --- speed without a second code path (issue 13 item 5) -------------------------------


def test_requests_scored_together_get_the_answers_they_get_alone(client, project):
    """Requests arriving together are scored as one batch; each answer is still the
    request's own, equal to its answer alone (a bad request fails alone)."""
    records = holdout(project, 24, 40)
    alone = [post(client, "/predict", json.dumps(r).encode()).json() for r in records]
    bodies = [json.dumps(r).encode() for r in records] + [b'{"week": "x"}']
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda body: post(client, "/predict", body), bodies))
    assert together[-1].status_code == 422
    assert [r.status_code for r in together[:-1]] == [200] * len(records)
    for first, second in zip(alone, together[:-1], strict=True):
        assert first["predictions"] == second.json()["predictions"]
        assert first["request_id"] != second.json()["request_id"]


def test_row_rules_name_each_rows_broken_expectations():
    suite = {
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "x", "min_value": 0, "max_value": 1},
            },
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "c", "value_set": ["a", "b"]},
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "c", "mostly": 0.9},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "s", "min_value": 2},
            },
        ]
    }
    frame = pd.DataFrame(
        {
            "x": [0.5, 2.0, np.nan, -1.0],
            "c": ["a", "z", None, np.nan],
            "s": ["3", "1", "word", None],
        }
    )
    assert RowRules(suite)(frame) == [
        [],
        ["x: outside [0, 1]", "c: not an allowed value", "s: outside [2, None]"],
        ["x: missing"],
        ["x: outside [0, 1]"],
    ]


# --- fuzzing (issue 12 item 8) --------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FRAGMENTS = st.lists(
    st.sampled_from(
        ["{", "}", "[", "]", ",", ":", '"', "\\ud800", "9" * 5000, "1e999", "NaN", "-", "0", "true"]
    ),
    max_size=30,
).map("".join)


def _bodies(field_names: list[str]) -> st.SearchStrategy[bytes]:
    """Whole JSON values, records with fields swapped for arbitrary values (to reach
    validation, features and the model), and raw fragments, as bodies."""
    records = st.fixed_dictionaries({}, optional={name: JSON_VALUES for name in field_names})
    values = JSON_VALUES | records | st.lists(records, max_size=3).map(lambda r: {"records": r})
    return (
        values.map(lambda v: json.dumps(v).encode())
        | FRAGMENTS.map(str.encode)
        | st.binary(max_size=60)
    )


FUZZ_SEEN: list[int] = []


def test_fuzzed_predict_and_labels_never_answer_5xx(client, project):
    """Arbitrary JSON, strings, numbers and nesting at /predict and /labels: no 5xx."""
    good = holdout(project, 1)[0]
    statuses: list[int] = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        body=_bodies(list(good)),
        overrides=st.dictionaries(st.sampled_from(list(good)), SCALARS, max_size=3),
    )
    def fuzz(body: bytes, overrides: dict) -> None:
        for path, payload in (
            ("/predict", body),
            ("/predict", json.dumps({**good, **overrides}).encode()),
            ("/labels", body),
        ):
            response = post(client, path, payload)
            statuses.append(response.status_code)
            assert response.status_code < 500, (path, payload[:200], response.text[:300])
            response.json()

    fuzz()
    print(
        f"fuzzed {len(statuses)} requests: {sum(s >= 500 for s in statuses)} 5xx, "
        f"{sum(s == 200 for s in statuses)} 200"
    )
    assert len(statuses) == 3 * FUZZ_EXAMPLES
    assert statuses.count(200) > 10  # the fuzz reached the model, not only the parser


# --- bounded stop, no orphans (issue 12 item 6) ---------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _serve(project: Path) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    process = subprocess.Popen(
        ["mlpipe", "serve", "--port", str(port)],
        cwd=project,
        env=project_env(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if client.get("/ready").status_code == 200:
                return process, client
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read()
        time.sleep(0.3)
    raise AssertionError("the service did not start")


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _shadow_processes(service: int) -> set[int]:
    """The service's descendants once its shadow process runs (multiprocessing's
    resource tracker included)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        found = _descendants(service)
        if any(b"spawn_main" in _command(pid) for pid in found):
            return found
        time.sleep(0.2)
    raise AssertionError("no shadow process")


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.time() + seconds
    while _alive(pids) and time.time() < deadline:
        time.sleep(0.2)
    return _alive(pids)


@pytest.mark.checklist("I6")
def test_a_stop_is_bounded_and_the_shadow_process_dies_with_the_service(project):
    """A challenger that takes 5 s per request, 12 requests queued for it: SIGTERM ends
    the service within shutdown_seconds (plus start-up of the stop), the rest dropped and
    said so; after `kill -9` of the service, its shadow process is gone too."""
    register_challenger(project, Hangs(), "hangs")
    process, client = _serve(project)
    try:
        records = holdout(project, 12)
        for record in records:
            assert client.post("/predict", json=record).status_code == 200
        workers = _shadow_processes(process.pid)
        client.close()
        stopping = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        stopped = time.perf_counter() - stopping
        assert process.returncode in (0, -signal.SIGTERM), stderr[-2000:]  # uvicorn re-raises
        assert stopped < 12, stopped  # draining all 12 would take a minute
        assert "shadow scorings still queued after 3.0 s" in stderr  # shutdown_seconds
        assert _wait_gone(workers, 5) == set()

        process, client = _serve(project)
        client.post("/predict", json=records[0])
        workers = _shadow_processes(process.pid)
        client.close()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert _wait_gone(workers, 10) == set()
    finally:
        if process.poll() is None:
            process.kill()
