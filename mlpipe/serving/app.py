"""The HTTP face of the prediction service: FastAPI routes, request parsing (every bad
request is a 4xx naming the problem, never a 500) and ``serve`` with uvicorn."""

from __future__ import annotations

import json
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from mlpipe.core.configs import ServingSettings
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings
from mlpipe.serving.predictionlog import add_labels
from mlpipe.serving.service import PredictionService


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
            response = _predict(svc, payload, start)
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


def _predict(svc: PredictionService, payload: Any, started: float) -> JSONResponse:
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
        return JSONResponse(svc.predict(valid, started))
    except LookupError as error:
        return JSONResponse({"detail": str(error)}, status_code=503)


def serve(root: Path, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    settings = load_settings(ServingSettings, ProjectPaths(root).configs / "serving.yaml")
    uvicorn.run(
        create_app(root),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
    )
