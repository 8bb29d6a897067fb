"""The prediction service: the registry's champion behind FastAPI, with a challenger in
shadow or canary mode, a durable prediction log and Prometheus metrics.

Features are computed by the domain's own ``enrich`` and feature registry, the code the
training pipeline runs; nothing here re-implements a feature."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlpipe.core.errors import ConfigError
from mlpipe.core.params import load_yaml_config
from mlpipe.core.project import Project
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.core.validation import load_suite
from mlpipe.serving.contract import request_model, row_violations
from mlpipe.serving.predictionlog import PredictionLog, add_labels

logger = logging.getLogger("mlpipe.serve")

_SHADOW_MODELS: dict[str, Any] = {}


def _shadow_worker_init(tracking_uri: str) -> None:
    """In the shadow process: find the registry; one OpenMP thread (set before scikit-learn
    loads, or its idle threads spin and starve the service on a small machine)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _shadow_warm_up() -> None:
    """Pay the shadow process's imports at service start, not on the first request."""
    import mlflow.sklearn  # noqa: F401


def _shadow_predict(
    model_uri: str, features: list[str], frame: pd.DataFrame
) -> tuple[np.ndarray, float]:
    """Score in the shadow process: the challenger never competes with the request path
    for the interpreter, and a crash there cannot take the service down."""
    model = _SHADOW_MODELS.get(model_uri)
    if model is None:
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(model_uri)
        _SHADOW_MODELS.clear()
        _SHADOW_MODELS[model_uri] = model
    start = time.perf_counter()
    proba = model.predict_proba(frame[features])[:, 1]
    return proba, time.perf_counter() - start


class PromotionCriteria(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_compared: int = 200
    min_agreement: float = 0.8
    max_error_rate: float = 0.01
    max_p99_latency_ms: float = 100
    min_labelled: int = 100
    max_quality_drop: float = 0.01


class CanaryLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_error_rate: float = 0.05
    max_p99_latency_ms: float = 250


class ServingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    mode: str = Field("shadow", pattern="^(off|shadow|canary)$")
    canary_fraction: float = Field(0.1, ge=0, le=1)
    reload_seconds: float = Field(5, gt=0)
    challenger_timeout_seconds: float = Field(1.0, gt=0)
    max_records: int = Field(1000, ge=1)
    max_body_bytes: int = Field(2_000_000, ge=1000)
    api_key_env: str = "MLPIPE_API_KEY"
    log_path: str = "data/serving/predictions.db"
    promotion: PromotionCriteria = PromotionCriteria()
    canary_limits: CanaryLimits = CanaryLimits()


def load_serving_settings(root: Path) -> ServingSettings:
    path = root / "configs" / "serving.yaml"
    try:
        return ServingSettings.model_validate(load_yaml_config(path))
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path.name} is invalid: {details}") from None


@dataclass(frozen=True)
class LoadedModel:
    role: str
    version: str
    model: Any
    features: list[str]
    threshold: float
    tags: dict[str, str]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(features[self.features])[:, 1]


@dataclass(frozen=True)
class ServingState:
    """What answers requests. Replaced whole, never mutated: a request sees one state."""

    champion: LoadedModel | None
    challenger: LoadedModel | None
    settings: ServingSettings
    loaded_at: float = field(default_factory=time.time)


def in_canary(key: str, fraction: float) -> bool:
    """Sticky routing: the same key always lands on the same side."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < fraction


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlpipe_requests", "HTTP predict requests by status", ["status"], registry=self.registry
        )
        self.predictions = Counter(
            "mlpipe_predictions",
            "Scored records by model",
            ["role", "version", "served"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mlpipe_model_errors", "Model failures", ["role", "version"], registry=self.registry
        )
        self.latency = Histogram(
            "mlpipe_request_latency_seconds",
            "Predict request latency",
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.model_latency = Histogram(
            "mlpipe_model_latency_seconds",
            "Model scoring latency",
            ["role", "version"],
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 1),
        )
        self.violations = Counter(
            "mlpipe_input_violations",
            "Served rows breaking a data expectation",
            ["rule"],
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "mlpipe_shadow_dropped",
            "Shadow scorings dropped because the challenger was backlogged",
            registry=self.registry,
        )


class PredictionService:
    """Loads models from the registry, keeps them fresh, scores and logs requests."""

    def __init__(self, root: Path) -> None:
        from threadpoolctl import threadpool_limits

        # one request is a handful of rows: OpenMP threads only add spin-up and contention
        # (the variable covers libraries not loaded yet, the call those already loaded)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        threadpool_limits(1)
        self.ctx = Project.load(root)
        self.root = self.ctx.paths.root
        self.domain = self.ctx.domain
        self.settings = load_serving_settings(self.root)
        self.metrics = Metrics()
        suites = self.ctx.paths.expectations
        self.request_schema = request_model(
            load_suite(suites / "raw" / f"{self.domain.MAIN_TABLE}.json"),
            tuple(self.domain.SERVING_FIELDS),
            "PredictionRecord",
        )
        self.feature_suite = load_suite(suites / "features.json")
        self.context = self.ctx.reference_context()
        self.registry = Registry(self.ctx.paths, must_exist=True)
        self.log = PredictionLog(self.root / self.settings.log_path)
        self._settings_mtime = self._settings_path().stat().st_mtime
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._shadow_process = self._new_shadow_process()
        self._shadow_process.submit(_shadow_warm_up)
        self._canary = ThreadPoolExecutor(max_workers=2, thread_name_prefix="canary")
        self._shadow_pending = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.state = ServingState(None, None, self.settings)
        self.refresh()
        self._watcher = threading.Thread(target=self._watch, name="alias-watch", daemon=True)
        self._watcher.start()

    def _new_shadow_process(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_shadow_worker_init,
            initargs=(self.registry.settings.tracking_uri,),
        )

    def _settings_path(self) -> Path:
        return self.root / "configs" / "serving.yaml"

    def _load(self, role: str, version: str) -> LoadedModel:
        import mlflow.sklearn

        current = getattr(self.state, role)
        if current is not None and current.version == version:
            return current
        details = self.registry.version(version)
        model = mlflow.sklearn.load_model(f"models:/{self.registry.name}/{version}")
        return LoadedModel(
            role,
            version,
            model,
            json.loads(details.tags["model.features"]),
            float(details.tags.get("model.threshold", 0.5)),
            dict(details.tags),
        )

    def refresh(self) -> bool:
        """Re-read aliases and settings; swap in a new state if anything changed."""
        changed = False
        settings = self.state.settings
        mtime = self._settings_path().stat().st_mtime
        if mtime != self._settings_mtime:
            settings = load_serving_settings(self.root)
            self._settings_mtime = mtime
            changed = True
        by_alias = {
            alias: version
            for version, aliases in self.registry.aliases().items()
            for alias in aliases
        }
        wanted = (by_alias.get(CHAMPION), by_alias.get(CHALLENGER))
        current = (
            getattr(self.state.champion, "version", None),
            getattr(self.state.challenger, "version", None),
        )
        if wanted != current or changed:
            champion = self._load(CHAMPION, wanted[0]) if wanted[0] else None
            challenger = self._load(CHALLENGER, wanted[1]) if wanted[1] else None
            self.state = ServingState(champion, challenger, settings)
            logger.info(
                "serving champion v%s, challenger v%s, mode %s", wanted[0], wanted[1], settings.mode
            )
            return True
        return False

    def _watch(self) -> None:
        while not self._stop.wait(self.state.settings.reload_seconds):
            try:
                self.refresh()
            except Exception:  # keep serving the last good state
                logger.exception("could not refresh models; still serving the previous ones")

    def close(self) -> None:
        self._stop.set()
        self._shadow.shutdown(wait=True, cancel_futures=False)
        self._shadow_process.shutdown(wait=False, cancel_futures=True)
        self._canary.shutdown(wait=False, cancel_futures=True)
        self.log.close()

    # scoring -------------------------------------------------------------------------

    def features(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Raw request fields -> the training pipeline's features (same code)."""
        flights = pd.DataFrame.from_records(records, columns=list(self.domain.SERVING_FIELDS))
        base = self.domain.enrich(flights, self.context, self.ctx.options)
        names = sorted({*self._needed_features()})
        table, _ = self.domain.features.compute(base, names)
        table[self.domain.KEY] = base[self.domain.KEY].to_numpy()
        return table

    def _needed_features(self) -> list[str]:
        state = self.state
        names = list(state.champion.features) if state.champion else []
        if state.challenger:
            names += state.challenger.features
        return names

    def _score(self, model: LoadedModel, table: pd.DataFrame) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        proba = model.predict(table)
        seconds = time.perf_counter() - start
        self.metrics.model_latency.labels(model.role, model.version).observe(seconds)
        return proba, seconds

    def predict(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        state = self.state
        if state.champion is None:
            raise LookupError("no champion model is registered")
        request_id = uuid.uuid4().hex
        started = time.time()
        table = self.features(records)
        keys = table[self.domain.KEY].tolist()
        violations = row_violations(table, self.feature_suite)
        for rules in violations:
            for rule in rules:
                self.metrics.violations.labels(rule).inc()

        champion_proba, champion_seconds = self._score(state.champion, table)
        proba = champion_proba.copy()
        answered_by = [state.champion] * len(records)
        challenger_rows: list[dict[str, Any]] = []
        if state.challenger is not None and state.settings.mode == "canary":
            routed = np.array([in_canary(k, state.settings.canary_fraction) for k in keys])
            if routed.any():
                challenger_rows = self._canary_score(
                    state, table, routed, proba, answered_by, request_id
                )
        decisions = [int(p >= m.threshold) for p, m in zip(proba, answered_by, strict=True)]
        rows = [
            {
                "request_id": request_id,
                "ts": started,
                "key": key,
                "role": CHAMPION,
                "version": state.champion.version,
                "mode": state.settings.mode,
                "served": int(answered_by[i] is state.champion),
                "probability": float(champion_proba[i]),
                "decision": int(champion_proba[i] >= state.champion.threshold),
                "latency_ms": 1000 * champion_seconds,
                "inputs": records[i],
                "features": _row_dict(table, i),
                "violations": violations[i],
            }
            for i, key in enumerate(keys)
        ]
        self.log.write(rows + challenger_rows)
        if state.challenger is not None and state.settings.mode == "shadow":
            self._submit_shadow(state, table, request_id, started, records)
        for model in answered_by:
            self.metrics.predictions.labels(model.role, model.version, "true").inc()
        return {
            "request_id": request_id,
            "predictions": [
                {
                    "key": key,
                    "probability": round(float(proba[i]), 6),
                    "decision": decisions[i],
                    "model_version": answered_by[i].version,
                    "model_role": answered_by[i].role,
                }
                for i, key in enumerate(keys)
            ],
            "warnings": {keys[i]: rules for i, rules in enumerate(violations) if rules},
        }

    def _canary_score(
        self,
        state: ServingState,
        table: pd.DataFrame,
        routed: np.ndarray,
        proba: np.ndarray,
        answered_by: list[LoadedModel],
        request_id: str,
    ) -> list[dict[str, Any]]:
        """Score routed rows with the challenger; on error or timeout, the champion answers."""
        challenger = state.challenger
        subset = table.loc[routed]
        future = self._canary.submit(self._score, challenger, subset)
        rows_index = np.flatnonzero(routed)
        try:
            values, seconds = future.result(timeout=state.settings.challenger_timeout_seconds)
            error = None
        except (Exception, FutureTimeout) as failure:  # the champion answers instead
            self.metrics.errors.labels(challenger.role, challenger.version).inc()
            values, seconds, error = None, state.settings.challenger_timeout_seconds, repr(failure)
        rows = []
        for position, i in enumerate(rows_index):
            if values is not None:
                proba[i] = values[position]
                answered_by[i] = challenger
            rows.append(
                {
                    "request_id": request_id,
                    "ts": time.time(),
                    "key": table[self.domain.KEY].iloc[i],
                    "role": CHALLENGER,
                    "version": challenger.version,
                    "mode": "canary",
                    "served": int(values is not None),
                    "probability": float(values[position]) if values is not None else None,
                    "decision": int(values[position] >= challenger.threshold)
                    if values is not None
                    else None,
                    "latency_ms": 1000 * seconds,
                    "error": error,
                }
            )
        return rows

    def _submit_shadow(
        self,
        state: ServingState,
        table: pd.DataFrame,
        request_id: str,
        started: float,
        records: list[dict[str, Any]],
    ) -> None:
        with self._lock:
            if self._shadow_pending >= 64:
                self.metrics.shadow_dropped.inc()
                return
            self._shadow_pending += 1
        self._shadow.submit(self._shadow_score, state.challenger, table, request_id, started)

    def _shadow_score(
        self, challenger: LoadedModel, table: pd.DataFrame, request_id: str, started: float
    ) -> None:
        """Off the response path: whatever the challenger does, the response is already out.
        Work queued for a challenger that has since been replaced is dropped, so a slow
        old challenger leaves no backlog for the new one."""
        if challenger is not self.state.challenger:
            with self._lock:
                self._shadow_pending -= 1
            self.metrics.shadow_dropped.inc()
            return
        uri = f"models:/{self.registry.name}/{challenger.version}"
        try:
            future = self._shadow_process.submit(
                _shadow_predict, uri, challenger.features, table[challenger.features]
            )
            values, seconds = future.result(timeout=60)
            self.metrics.model_latency.labels(challenger.role, challenger.version).observe(seconds)
            error = None
        except Exception as failure:
            if isinstance(failure, BrokenProcessPool):
                self._shadow_process = self._new_shadow_process()
            self.metrics.errors.labels(challenger.role, challenger.version).inc()
            values, seconds, error = None, 0.0, repr(failure)
        finally:
            with self._lock:
                self._shadow_pending -= 1
        keys = table[self.domain.KEY].tolist()
        self.log.write(
            [
                {
                    "request_id": request_id,
                    "ts": started,
                    "key": key,
                    "role": CHALLENGER,
                    "version": challenger.version,
                    "mode": "shadow",
                    "served": 0,
                    "probability": float(values[i]) if values is not None else None,
                    "decision": int(values[i] >= challenger.threshold)
                    if values is not None
                    else None,
                    "latency_ms": 1000 * seconds,
                    "error": error,
                }
                for i, key in enumerate(keys)
            ]
        )
        if values is not None:
            self.metrics.predictions.labels(challenger.role, challenger.version, "false").inc(
                len(keys)
            )

    def metadata(self) -> dict[str, Any]:
        state = self.state
        return {
            "mode": state.settings.mode,
            "canary_fraction": state.settings.canary_fraction,
            "loaded_at": state.loaded_at,
            "models": {
                model.role: {
                    "version": model.version,
                    "threshold": model.threshold,
                    "features": model.features,
                    "lineage": model.tags,
                }
                for model in (state.champion, state.challenger)
                if model is not None
            },
        }


def _row_dict(table: pd.DataFrame, i: int) -> dict[str, Any]:
    row = table.iloc[i].to_dict()
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


def create_app(root: Path) -> FastAPI:
    """The FastAPI application (the service starts when the app does)."""
    holder: dict[str, PredictionService] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder["service"] = PredictionService(root)
        yield
        holder.pop("service").close()

    app = FastAPI(title="mlpipe prediction service", lifespan=lifespan)

    def service() -> PredictionService:
        return holder["service"]

    def unauthorised(request: Request) -> JSONResponse | None:
        expected = os.environ.get(service().state.settings.api_key_env)
        if expected and request.headers.get("x-api-key") != expected:
            return JSONResponse({"detail": "missing or wrong X-API-Key"}, status_code=401)
        return None

    async def read_json(request: Request) -> tuple[Any, JSONResponse | None]:
        settings = service().state.settings
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            return None, JSONResponse(
                {"detail": f"body of {len(body)} bytes exceeds {settings.max_body_bytes}"},
                status_code=413,
            )
        try:
            return json.loads(body), None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return None, JSONResponse({"detail": f"malformed JSON: {error}"}, status_code=400)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        state = service().state
        if state.champion is None:
            return JSONResponse({"ready": False, "detail": "no champion model"}, status_code=503)
        return JSONResponse({"ready": True, "champion": state.champion.version})

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        return service().metadata()

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(
            generate_latest(service().metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        start = time.perf_counter()
        svc = service()
        response = unauthorised(request)
        payload, error = await read_json(request)
        response = response or error
        if response is None:
            response = _predict(svc, payload)
        svc.metrics.requests.labels(str(response.status_code)).inc()
        svc.metrics.latency.observe(time.perf_counter() - start)
        return response

    @app.post("/labels")
    async def labels(request: Request) -> JSONResponse:
        response = unauthorised(request)
        payload, error = await read_json(request)
        if response or error:
            return response or error
        if not isinstance(payload, dict) or not all(
            isinstance(k, str) and v in (0, 1) for k, v in payload.items()
        ):
            return JSONResponse({"detail": "expected an object of key: 0 or 1"}, status_code=422)
        svc = service()
        stored = add_labels(svc.root / svc.state.settings.log_path, payload)
        return JSONResponse({"stored": stored})

    return app


def _predict(svc: PredictionService, payload: Any) -> JSONResponse:
    if isinstance(payload, dict) and "records" in payload:
        records = payload["records"]
    elif isinstance(payload, dict):
        records = [payload]
    else:
        records = payload
    if not isinstance(records, list) or not records:
        return JSONResponse(
            {"detail": "expected a record, a list of records or {'records': [...]}"},
            status_code=422,
        )
    limit = svc.state.settings.max_records
    if len(records) > limit:
        return JSONResponse(
            {"detail": f"{len(records)} records exceed the limit of {limit}"}, status_code=413
        )
    valid, problems = [], []
    for i, record in enumerate(records):
        try:
            valid.append(svc.request_schema.model_validate(record).model_dump())
        except ValidationError as error:
            problems += [
                {"loc": ["records", i, *e["loc"]], "msg": e["msg"]} for e in error.errors()
            ]
    if problems:
        return JSONResponse({"detail": problems}, status_code=422)
    try:
        return JSONResponse(svc.predict(valid))
    except LookupError as error:
        return JSONResponse({"detail": str(error)}, status_code=503)


def serve(root: Path, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    settings = load_serving_settings(root)
    uvicorn.run(
        create_app(root),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
    )
