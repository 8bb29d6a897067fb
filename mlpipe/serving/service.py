"""The prediction service's core: the registry's champion (and challenger) loaded and kept
fresh, features computed by the domain's own ``enrich`` and feature registry (the code the
training pipeline runs; nothing here re-implements a feature), scoring, shadow and canary
routing, and the prediction log.

The champion answers from its own features. Whatever the challenger needs beyond them is
computed apart (in shadow mode in its own process, in canary mode under a timeout with the
champion as fallback), so a challenger can never fail or slow a champion response (I6)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from mlpipe.core.configs import ServingSettings
from mlpipe.core.privacy import pseudonym_key, pseudonymise
from mlpipe.core.project import Project
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.core.settings import load_settings
from mlpipe.core.validation import load_suite
from mlpipe.serving.contract import RowRules, request_model
from mlpipe.serving.fasttrees import fast_model
from mlpipe.serving.metrics import Metrics
from mlpipe.serving.parsing import BadRequest
from mlpipe.serving.predictionlog import PredictionLog
from mlpipe.serving.shadow import ShadowProcess, with_features

logger = logging.getLogger("mlpipe.serve")

# shadow scorings waiting for a slow challenger before new ones are dropped
SHADOW_BACKLOG = 64
SHADOW_TIMEOUT_SECONDS = 60
# canary scorings running at once; beyond that (a stuck challenger) the champion answers
CANARY_THREADS = 2


@dataclass(frozen=True)
class LoadedModel:
    role: str
    version: str
    model: Any
    features: list[str]
    threshold: float
    tags: dict[str, str]
    uri: str
    problem: str | None = None  # why it cannot score: it is then skipped and reported
    runtime: Any = None  # the same model, faster on a request's rows (see fasttrees)

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        scorer = self.runtime if self.runtime is not None else self.model
        return scorer.predict_proba(table[self.features])[:, 1]

    def check_usable(self) -> None:
        if self.problem:
            raise RuntimeError(self.problem)


@dataclass(frozen=True)
class ServingState:
    """What answers requests. Replaced whole, never mutated: a request sees one state."""

    champion: LoadedModel | None
    challenger: LoadedModel | None
    settings: ServingSettings
    loaded_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ShadowJob:
    """One batch's work for the challenger in shadow mode: the enriched rows (for the
    features only it needs), the champion's features table, and each row's request."""

    challenger: LoadedModel
    base: pd.DataFrame
    table: pd.DataFrame
    request_ids: list[str]
    ts: float


def in_canary(key: str, fraction: float) -> bool:
    """Sticky routing: the same key always lands on the same side."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < fraction


def log_rows(
    request_id: str | list[str],
    ts: float,
    model: LoadedModel,
    mode: str,
    keys: list[Any],
    proba: np.ndarray | None,
    served: bool | np.ndarray,
    latency_ms: float,
    model_ms: float | None,
    error: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The prediction log's rows for one model's answers to one request: the one place a
    row is built (champion, canary and shadow alike). ``details`` adds per-row inputs,
    features and violations (the champion's rows). ``request_id`` may be one per row (a
    shadow batch)."""
    flags = np.broadcast_to(served, len(keys))
    ids = [request_id] * len(keys) if isinstance(request_id, str) else request_id
    rows = []
    for i, key in enumerate(keys):
        probability = None if proba is None else float(proba[i])
        rows.append(
            {
                "request_id": ids[i],
                "ts": ts,
                "key": key,
                "role": model.role,
                "version": model.version,
                "mode": mode,
                "served": int(flags[i]),
                "probability": probability,
                "decision": None if probability is None else int(probability >= model.threshold),
                "latency_ms": latency_ms,
                "model_ms": model_ms,
                "error": error,
                **(details[i] if details else {}),
            }
        )
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


class PredictionService:
    """Loads models from the registry, keeps them fresh, scores and logs requests.
    ``settings`` replaces configs/serving.yaml until that file changes (tests, benchmarks)."""

    def __init__(self, root: Path, settings: ServingSettings | None = None) -> None:
        from threadpoolctl import threadpool_limits

        # one request is a handful of rows: OpenMP threads only add spin-up and contention
        # (the variable covers libraries not loaded yet, the call those already loaded)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        threadpool_limits(1)
        self.project = Project.load(root)
        self.root = self.project.paths.root
        self.domain = self.project.domain
        self.settings_path = self.project.paths.configs / "serving.yaml"
        settings = settings or self.project.configs.serving
        self.metrics = Metrics()
        suites = self.project.paths.expectations
        self.request_schema = request_model(
            load_suite(suites / "raw" / f"{self.domain.main_table}.json"),
            tuple(self.domain.serving_fields),
            "PredictionRecord",
        )
        self.row_rules = RowRules(load_suite(suites / "features.json"))
        self.context = self.project.reference_context
        self.private = [*self.domain.identifiers, *self.domain.sensitive]
        self.pseudonym_key = pseudonym_key(self.root, settings.pseudonym_key_env)
        self.registry = Registry(self.project.paths, must_exist=True)
        self.log = PredictionLog(self.root / settings.log_path)
        self._settings_mtime = self.settings_path.stat().st_mtime
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._shadow_process = ShadowProcess(self.root, self.registry.settings.tracking_uri)
        self._canary_slots = threading.BoundedSemaphore(CANARY_THREADS)
        self._shadow_pending = 0  # jobs queued or being scored
        self._shadow_queue: list[ShadowJob] = []
        self._shadow_draining = False
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._stop = threading.Event()
        self.state = ServingState(None, None, settings)
        self.refresh()
        self._watcher = threading.Thread(target=self._watch, name="alias-watch", daemon=True)
        self._watcher.start()

    # models and settings -------------------------------------------------------------

    def _load(self, role: str, version: str) -> LoadedModel:
        current = getattr(self.state, role)
        if current is not None and current.version == version:
            return current
        info = self.registry.version(version)
        known = set(self.domain.features.names())
        unknown = [name for name in info.features if name not in known]
        problem = None
        if unknown:
            problem = f"{role} v{version} needs features the registry does not know: {unknown}"
            logger.error("%s: it is skipped", problem)
        model = self.registry.load_model(version)
        return LoadedModel(
            role,
            version,
            model,
            info.features,
            info.threshold,
            dict(info.tags),
            self.registry.model_uri(version),
            problem,
            fast_model(model),
        )

    def refresh(self) -> bool:
        """Re-read aliases and settings; swap in a new state if anything changed."""
        changed = False
        settings = self.state.settings
        mtime = self.settings_path.stat().st_mtime
        if mtime != self._settings_mtime:
            settings = load_settings(ServingSettings, self.settings_path)
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
        if wanted == current and not changed:
            return False
        champion = self._load(CHAMPION, wanted[0]) if wanted[0] else None
        challenger = self._load(CHALLENGER, wanted[1]) if wanted[1] else None
        if challenger is not None and challenger.problem is None and settings.mode == "shadow":
            self._shadow.submit(self._warm, challenger.uri)
        self.state = ServingState(champion, challenger, settings)
        logger.info(
            "serving champion v%s, challenger v%s, mode %s", wanted[0], wanted[1], settings.mode
        )
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.state.settings.reload_seconds):
            try:
                self.refresh()
            except Exception:  # keep serving the last good state
                logger.exception("could not refresh models; still serving the previous ones")

    def _warm(self, uri: str) -> None:
        try:
            self._shadow_process.warm(uri, SHADOW_TIMEOUT_SECONDS)
        except Exception as error:  # it is tried again, and reported, on its first request
            if not self._closing.is_set():
                logger.warning("could not load the challenger in the shadow process: %s", error)

    def close(self) -> None:
        """Stop within ``shutdown_seconds``: queued shadow scorings get that long, the rest
        are dropped (counted and logged), the shadow process is killed, and every row
        already logged is written."""
        self._stop.set()
        deadline = time.monotonic() + self.state.settings.shutdown_seconds
        with self._lock:
            while self._shadow_pending and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            left = self._shadow_pending
            self._closing.set()
        if left:
            self.metrics.shadow_dropped.labels("shutdown").inc(left)
            logger.warning(
                "stopping: dropped %d shadow scorings still queued after %s s",
                left,
                self.state.settings.shutdown_seconds,
            )
        self._shadow.shutdown(wait=False, cancel_futures=True)
        self._shadow_process.close()
        self._shadow.shutdown(wait=True)
        self.log.close()

    # requests ------------------------------------------------------------------------

    def validate(self, records: list[Any]) -> list[dict[str, Any]]:
        """Records checked by the request schema (each field alone) and then by the
        domain's ``check_request`` (fields together); ``BadRequest`` (422) names every
        problem's record and field."""
        valid, problems = [], []
        check = self.domain.check_request
        for i, record in enumerate(records):
            try:
                fields = self.request_schema.model_validate(record).model_dump()
            except ValidationError as error:
                problems += [
                    {"loc": ["records", i, *e["loc"]], "msg": e["msg"]} for e in error.errors()
                ]
                continue
            try:
                found = check(fields) if check else {}
            except Exception as error:  # the domain's check failed on this record: its fault
                found = {"": f"the record cannot be checked: {error!r}"}
            problems += [
                {"loc": ["records", i, *([name] if name else [])], "msg": msg}
                for name, msg in found.items()
            ]
            valid.append(fields)
        if problems:
            raise BadRequest(422, problems[:50])
        return valid

    # scoring -------------------------------------------------------------------------

    def features(
        self, records: list[dict[str, Any]], names: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Raw request fields -> (the enriched rows, the named features and the key), by
        the training pipeline's own code."""
        rows = pd.DataFrame.from_records(records, columns=list(self.domain.serving_fields))
        base = self.domain.enrich(rows, self.context)
        table, _ = self.domain.features.compute(base, names)
        table[self.domain.key] = base[self.domain.key].to_numpy()
        return base, table

    def _score(self, model: LoadedModel, table: pd.DataFrame) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        proba = model.predict(table)
        seconds = time.perf_counter() - start
        self.metrics.model_latency.labels(model.role, model.version).observe(seconds)
        return proba, seconds

    def _challenger_score(
        self, challenger: LoadedModel, base: pd.DataFrame, table: pd.DataFrame
    ) -> tuple[np.ndarray, float]:
        """In process (canary): the challenger's own extra features, then its scores."""
        challenger.check_usable()
        table = with_features(self.domain.features, challenger.features, table, base)
        return self._score(challenger, table)

    def predict(
        self, records: list[dict[str, Any]], started: float | None = None
    ) -> dict[str, Any]:
        """Score validated records. ``started`` (``time.perf_counter()``) is when the
        request arrived, so the logged latency covers its parsing too."""
        answer = self.predict_many([(records, started)])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def predict_many(
        self, requests: list[tuple[list[dict[str, Any]], float | None]]
    ) -> list[dict[str, Any] | Exception]:
        """Several requests' validated records scored together, each answered and logged
        as its own request: one features call and one model call for all (what costs is
        the calls, hardly the rows). A request that cannot be prepared gets its own 422
        (``BadRequest``) and the others are scored without it."""
        state = self.state
        champion = state.champion
        if champion is None:
            return [LookupError("no champion model is registered")] * len(requests)
        if champion.problem:
            return [LookupError(f"the champion cannot score: {champion.problem}")] * len(requests)
        started = [time.perf_counter() if s is None else s for _, s in requests]
        everything = [record for records, _ in requests for record in records]
        try:
            base, table = self.features(everything, champion.features)
        except Exception:
            if len(requests) == 1:
                return [self._unprepared(requests[0][0], champion.features)]
            return [self.predict_many([request])[0] for request in requests]
        violations = self.row_rules(table)
        for rules in violations:
            for rule in rules:
                self.metrics.violations.labels(rule).inc()
        proba, model_seconds = self._score(champion, table)
        answers: list[dict[str, Any]] = []
        offset = 0
        for (records, _), began in zip(requests, started, strict=True):
            part = slice(offset, offset + len(records))
            offset += len(records)
            whole = len(requests) == 1
            answers.append(
                self._answer(
                    state,
                    records,
                    began,
                    base if whole else base.iloc[part],
                    table if whole else table.iloc[part],
                    violations[part],
                    proba[part],
                    model_seconds,
                )
            )
        challenger = state.challenger
        if challenger is not None and state.settings.mode == "shadow":
            request_ids = [
                answer["request_id"]
                for answer, (records, _) in zip(answers, requests, strict=True)
                for _ in records
            ]
            self._submit_shadow(ShadowJob(challenger, base, table, request_ids, time.time()))
        return answers

    def _unprepared(self, records: list[dict[str, Any]], names: list[str]) -> BadRequest:
        """Why valid records could not be prepared: a 422 naming the records that fail
        alone."""
        failing = []
        for i, record in enumerate(records):
            try:
                self.features([record], names)
            except Exception as error:
                failing.append({"loc": ["records", i], "msg": f"cannot be prepared: {error!r}"})
        logger.warning("features failed on a request: %s", failing)
        return BadRequest(422, failing or "the records cannot be prepared together")

    def _answer(
        self,
        state: ServingState,
        records: list[dict[str, Any]],
        started: float,
        base: pd.DataFrame,
        table: pd.DataFrame,
        violations: list[list[str]],
        champion_proba: np.ndarray,
        model_seconds: float,
    ) -> dict[str, Any]:
        """One request's answer from its rows of a scored batch: canary routing, the log
        rows, the shadow job, the metrics and the response."""
        champion, challenger = state.champion, state.challenger
        request_id = uuid.uuid4().hex
        ts = time.time()
        keys = table[self.domain.key].tolist()
        proba = champion_proba.copy()
        answered_by = [champion] * len(keys)
        challenger_rows: list[dict[str, Any]] = []
        if challenger is not None and state.settings.mode == "canary":
            routed = np.array([in_canary(str(k), state.settings.canary_fraction) for k in keys])
            if routed.any():
                challenger_rows = self._canary_score(
                    challenger, state.settings, base, table, routed, proba, answered_by, request_id
                )
        inputs = pseudonymise(records, self.private, self.pseudonym_key)
        features = _records(pseudonymise(table, self.private, self.pseudonym_key))
        details = [
            {"inputs": inputs[i], "features": features[i], "violations": violations[i]}
            for i in range(len(keys))
        ]
        rows = log_rows(
            request_id,
            ts,
            champion,
            state.settings.mode,
            keys,
            champion_proba,
            np.array([model is champion for model in answered_by]),
            1000 * (time.perf_counter() - started),
            1000 * model_seconds,
            details=details,
        )
        self.log.write(rows + challenger_rows)
        served_by_champion = sum(model is champion for model in answered_by)
        self.metrics.predictions.labels(CHAMPION, champion.version, "true").inc(served_by_champion)
        if challenger is not None and served_by_champion < len(keys):
            self.metrics.predictions.labels(CHALLENGER, challenger.version, "true").inc(
                len(keys) - served_by_champion
            )
        return {
            "request_id": request_id,
            "predictions": [
                {
                    "key": key,
                    "probability": round(float(proba[i]), 6),
                    "decision": int(proba[i] >= answered_by[i].threshold),
                    "model_version": answered_by[i].version,
                    "model_role": answered_by[i].role,
                }
                for i, key in enumerate(keys)
            ],
            "warnings": {keys[i]: rules for i, rules in enumerate(violations) if rules},
        }

    def _canary_score(
        self,
        challenger: LoadedModel,
        settings: ServingSettings,
        base: pd.DataFrame,
        table: pd.DataFrame,
        routed: np.ndarray,
        proba: np.ndarray,
        answered_by: list[LoadedModel],
        request_id: str,
    ) -> list[dict[str, Any]]:
        """Routed rows answered by the challenger (its features and model under the
        timeout); on any error or timeout the champion's answers stand."""
        start = time.perf_counter()
        error = None
        try:
            future = self._in_canary_thread(
                self._challenger_score, challenger, base.loc[routed], table.loc[routed]
            )
            values, model_seconds = future.result(timeout=settings.challenger_timeout_seconds)
        except Exception as failure:  # timeouts included: the champion answers instead
            self.metrics.errors.labels(challenger.role, challenger.version).inc()
            values, model_seconds, error = None, None, repr(failure)
        index = np.flatnonzero(routed)
        if values is not None:
            proba[index] = values
            for i in index:
                answered_by[i] = challenger
        return log_rows(
            request_id,
            time.time(),
            challenger,
            "canary",
            table[self.domain.key].iloc[index].tolist(),
            values,
            values is not None,
            1000 * (time.perf_counter() - start),
            None if model_seconds is None else 1000 * model_seconds,
            error,
        )

    def _in_canary_thread(self, call: Callable[..., Any], *args: Any) -> Future:
        """``call`` in a daemon thread of its own, at most ``CANARY_THREADS`` at once: a
        stuck challenger can neither pile up threads nor keep the service from exiting."""
        if not self._canary_slots.acquire(blocking=False):
            raise RuntimeError(f"{CANARY_THREADS} canary scorings are still running")
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(call(*args))
            except BaseException as error:
                future.set_exception(error)
            finally:
                self._canary_slots.release()

        threading.Thread(target=run, name="canary", daemon=True).start()
        return future

    def _submit_shadow(self, job: ShadowJob) -> None:
        with self._lock:
            if self._closing.is_set():
                self.metrics.shadow_dropped.labels("shutdown").inc()
                return
            if self._shadow_pending >= SHADOW_BACKLOG:
                self.metrics.shadow_dropped.labels("backlog").inc()
                return
            self._shadow_pending += 1
            self._shadow_queue.append(job)
            start = not self._shadow_draining
            self._shadow_draining = True
        if start:
            self._shadow.submit(self._shadow_drain)

    def _shadow_drain(self) -> None:
        """Score every queued shadow job, those of one challenger together (one call to
        the shadow process however many requests waited), until the queue is empty."""
        while True:
            with self._lock:
                jobs, self._shadow_queue = self._shadow_queue, []
                if not jobs:
                    self._shadow_draining = False
                    return
            try:
                for challenger in {id(job.challenger): job.challenger for job in jobs}.values():
                    mine = [job for job in jobs if job.challenger is challenger]
                    self._shadow_score(
                        ShadowJob(
                            challenger,
                            pd.concat([job.base for job in mine], ignore_index=True),
                            pd.concat([job.table for job in mine], ignore_index=True),
                            [rid for job in mine for rid in job.request_ids],
                            mine[0].ts,
                        )
                    )
            except Exception:  # a broken log write must not stop shadow scoring for good
                logger.exception("shadow scoring failed")
            finally:
                with self._lock:
                    self._shadow_pending -= len(jobs)
                    self._lock.notify_all()

    def _shadow_score(self, job: ShadowJob) -> None:
        """Off the response path: whatever the challenger does, the response is already
        out. Work queued for a challenger that has since been replaced is dropped, so a
        slow old challenger leaves no backlog for the new one."""
        challenger, table = job.challenger, job.table
        requests = len(set(job.request_ids))
        if self._closing.is_set():  # counted as dropped by close
            return
        current = self.state.challenger
        if current is None or current.uri != challenger.uri:  # not a reload of the same model
            self.metrics.shadow_dropped.labels("replaced").inc(requests)
            return
        start = time.perf_counter()
        shared = [name for name in challenger.features if name in table.columns]
        error = None
        try:
            challenger.check_usable()
            values, model_seconds, seconds = self._shadow_process.score(
                challenger.uri,
                challenger.features,
                table[shared],
                job.base if len(shared) < len(challenger.features) else None,
                SHADOW_TIMEOUT_SECONDS,
            )
            self.metrics.model_latency.labels(challenger.role, challenger.version).observe(
                model_seconds
            )
        except Exception as failure:
            if self._closing.is_set():  # killed by close, and counted as dropped there
                return
            self.metrics.errors.labels(challenger.role, challenger.version).inc(requests)
            values, model_seconds, error = None, None, repr(failure)
            seconds = time.perf_counter() - start
        keys = table[self.domain.key].tolist()
        self.log.write(
            log_rows(
                job.request_ids,
                job.ts,
                challenger,
                "shadow",
                keys,
                values,
                False,
                1000 * seconds,
                None if model_seconds is None else 1000 * model_seconds,
                error,
            )
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
                    "problem": model.problem,
                    "lineage": model.tags,
                }
                for model in (state.champion, state.challenger)
                if model is not None
            },
        }
