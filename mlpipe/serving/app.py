"""The HTTP face of the prediction service: FastAPI routes, request parsing and ``serve``
with uvicorn.

Every request gets a JSON answer: the API key is checked before the body is read, the
body limit while it is read, and every bad body, record or value is a 4xx naming where
the problem is (see ``parsing`` and ``PredictionService.validate``). Anything still
unexpected is a JSON 500 counted in ``mlpipe_requests_total`` and logged with its
traceback, and the connection stays open."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from mlpipe.core.configs import ServingSettings
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings
from mlpipe.serving.metrics import Metrics
from mlpipe.serving.parsing import BadRequest, parse_json
from mlpipe.serving.predictionlog import add_labels
from mlpipe.serving.service import PredictionService

logger = logging.getLogger("mlpipe.serve")

ROUTES = ("/health", "/ready", "/metadata", "/metrics", "/predict", "/labels")


class JSON(JSONResponse):
    """JSON as ASCII: whatever a request echoes back (a key, a field name), the response
    can always be encoded."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


class Guard:
    """Around every route: counts each response by path and status, and turns an exception
    no route handled into a JSON 500 (logged with its traceback) instead of a dropped
    connection."""

    def __init__(self, app: Any, metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            logger.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if status is None:
                status = 500
                detail = "unexpected error in the service (logged); the request was not served"
                await JSON({"detail": detail}, status_code=500)(scope, receive, send)
        finally:
            metrics = self.metrics()
            if metrics is not None:
                path = scope["path"] if scope["path"] in ROUTES else "other"
                metrics.requests.labels(path, str(status or 500)).inc()


def _one_native_thread() -> None:
    """OpenMP and BLAS settings are per thread: this one scores a handful of rows, where
    more threads only add spin-up and contention (as in the service's own thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


class Batcher:
    """Scores requests off the event loop, one batch at a time: requests that arrive while
    a batch is scored (other connections) are scored together next, so the per-call cost
    of features and model is paid once per batch; a lone request goes alone at once."""

    def __init__(self, service: PredictionService) -> None:
        self.service = service
        self.waiting: list[tuple[list[dict[str, Any]], float, asyncio.Future]] = []
        self.draining = False
        self.task: asyncio.Task | None = None
        self.thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="predict", initializer=_one_native_thread
        )

    async def predict(self, records: list[dict[str, Any]], started: float) -> dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((records, started, future))
        if not self.draining:
            self.draining = True  # the task is kept: the loop holds tasks only weakly
            self.task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.service.state.settings.max_records
        try:
            while self.waiting:
                batch, size = [], 0
                while self.waiting and (not batch or size + len(self.waiting[0][0]) <= limit):
                    batch.append(self.waiting.pop(0))
                    size += len(batch[-1][0])
                requests = [(records, started) for records, started, _ in batch]
                try:
                    answers = await loop.run_in_executor(
                        self.thread, self.service.predict_many, requests
                    )
                except Exception as error:  # unexpected: every request of the batch gets it
                    answers = [error] * len(batch)
                for (_, _, future), answer in zip(batch, answers, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(answer, Exception):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
        finally:
            self.draining = False

    def close(self) -> None:
        self.thread.shutdown(wait=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``limit``: from its
    declared length, else while it streams in (never buffered whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body of more than {size} bytes exceeds {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def records_of(payload: Any, limit: int) -> list[Any]:
    """A record, a list of records or ``{"records": [...]}`` as a list of records."""
    if isinstance(payload, dict) and "records" in payload:
        records = payload["records"]
    elif isinstance(payload, dict):
        records = [payload]
    else:
        records = payload
    if not isinstance(records, list) or not records:
        raise BadRequest(422, "expected a record, a list of records or {'records': [...]}")
    if len(records) > limit:
        raise BadRequest(413, f"{len(records)} records exceed the limit of {limit}")
    return records


def create_app(root: Path, settings: ServingSettings | None = None) -> FastAPI:
    """The FastAPI application (the service starts when the app does); ``settings``
    replace configs/serving.yaml until that file changes (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = PredictionService(root, settings)
        app.state.batcher = Batcher(app.state.service)
        yield
        app.state.batcher.close()
        app.state.service.close()

    app = FastAPI(title="mlpipe prediction service", lifespan=lifespan)
    app.add_middleware(
        Guard, metrics=lambda: getattr(app.state, "service", None) and service().metrics
    )

    def service() -> PredictionService:
        return app.state.service

    def authorise(request: Request) -> None:
        """401 unless the request carries the API key (when one is set)."""
        expected = os.environ.get(service().state.settings.api_key_env)
        given = request.headers.get("x-api-key", "")
        if expected and not hmac.compare_digest(given.encode(), expected.encode()):
            raise BadRequest(401, "missing or wrong X-API-Key")

    def answer(call: Callable[[], Any]) -> Response:
        try:
            result = call()
        except BadRequest as problem:
            return JSON({"detail": problem.detail}, status_code=problem.status)
        return result if isinstance(result, Response) else JSON(result)

    @app.get("/health")
    def health() -> Response:
        return JSON({"status": "ok"})

    @app.get("/ready")
    def ready() -> Response:
        state = service().state
        if state.champion is None:
            return JSON({"ready": False, "detail": "no champion model"}, status_code=503)
        return JSON({"ready": True, "champion": state.champion.version})

    @app.get("/metadata")
    def metadata(request: Request) -> Response:
        def call() -> Any:
            authorise(request)
            return service().metadata()

        return answer(call)

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        def call() -> Any:
            if not service().state.settings.metrics_open:
                authorise(request)
            return PlainTextResponse(
                generate_latest(service().metrics.registry), media_type=CONTENT_TYPE_LATEST
            )

        return answer(call)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        start = time.perf_counter()
        svc = service()
        settings = svc.state.settings
        try:
            authorise(request)
            payload = parse_json(await read_body(request, settings.max_body_bytes))
            records = svc.validate(records_of(payload, settings.max_records))
            response = JSON(await app.state.batcher.predict(records, start))
        except BadRequest as problem:
            response = JSON({"detail": problem.detail}, status_code=problem.status)
        except LookupError as error:
            response = JSON({"detail": str(error)}, status_code=503)
        svc.metrics.latency.observe(time.perf_counter() - start)
        return response

    @app.post("/labels")
    async def labels(request: Request) -> Response:
        svc = service()
        try:
            authorise(request)
            payload = parse_json(await read_body(request, svc.state.settings.max_body_bytes))
            if not isinstance(payload, dict) or not payload:
                raise BadRequest(422, "expected an object of key: 0 or 1")
            wrong = [
                {"loc": [k], "msg": "expected 0 or 1"}
                for k, v in payload.items()
                if v not in (0, 1)
            ]
            if wrong:
                raise BadRequest(422, wrong[:10])
            path = svc.root / svc.state.settings.log_path
            stored = await run_in_threadpool(add_labels, path, payload)
        except BadRequest as problem:
            return JSON({"detail": problem.detail}, status_code=problem.status)
        except sqlite3.Error as error:
            return JSON({"detail": f"the prediction log is unavailable: {error}"}, 503)
        return JSON({"stored": stored})

    return app


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
