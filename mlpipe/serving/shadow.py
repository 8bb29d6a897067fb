"""The challenger's own process in shadow mode: its extra features and its model run in a
spawned process, so they never compete with the response path for the interpreter, and a
crash there cannot take the service down (a broken process is replaced on next use)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# state of the shadow process (never of the service's own)
_ROOT: Path | None = None
_MODELS: dict[str, Any] = {}
_FEATURES: Any = None


def _init(root: str, tracking_uri: str) -> None:
    """In the shadow process: find the project and the registry; one OpenMP thread (set
    before scikit-learn loads, or its idle threads spin and starve the service on a small
    machine)."""
    global _ROOT
    _ROOT = Path(root)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _model(uri: str) -> Any:
    """The model at ``uri``, loaded once (only the current challenger is kept)."""
    model = _MODELS.get(uri)
    if model is None:
        from mlpipe.core.tracking import load_model

        model = load_model(uri)
        _MODELS.clear()
        _MODELS[uri] = model
    return model


def _feature_registry() -> Any:
    """The domain's feature registry, loaded once (only if a challenger needs its own)."""
    global _FEATURES
    if _FEATURES is None:
        from mlpipe.core.project import Project

        _FEATURES = Project.load(_ROOT).domain.features
    return _FEATURES


def with_features(
    registry: Any, names: list[str], table: pd.DataFrame, base: pd.DataFrame
) -> pd.DataFrame:
    """``table`` plus those of ``names`` it lacks, computed from ``base`` (the enriched
    rows, same index) by the domain's feature registry: a challenger's own features."""
    extra = [name for name in names if name not in table.columns]
    if not extra:
        return table
    computed, _ = registry.compute(base, extra)
    return pd.concat([table, computed], axis=1)


def _score(
    uri: str, features: list[str], table: pd.DataFrame, base: pd.DataFrame | None
) -> tuple[np.ndarray, float, float]:
    """The challenger's probabilities for ``table`` (the champion's features), computing
    from ``base`` (the enriched request rows) the features only the challenger needs;
    with the seconds of its model and of all its work."""
    start = time.perf_counter()
    model = _model(uri)
    if base is not None:
        table = with_features(_feature_registry(), features, table, base)
    scoring = time.perf_counter()
    proba = model.predict_proba(table[features])[:, 1]
    done = time.perf_counter()
    return proba, done - scoring, done - start


class ShadowProcess:
    """One spawned worker process, started on first use and restarted after a crash."""

    def __init__(self, root: Path, tracking_uri: str) -> None:
        self._args = (str(root), tracking_uri)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init,
                    initargs=self._args,
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        """Forget a broken worker: the next use starts a fresh one."""
        with self._lock:
            if self._pool is pool:
                self._pool = None

    def warm(self, uri: str) -> None:
        """Load the challenger now (imports included), not on its first request."""
        pool = self._executor()
        try:
            pool.submit(_model, uri)
        except BrokenProcessPool:
            self._discard(pool)

    def score(
        self,
        uri: str,
        features: list[str],
        table: pd.DataFrame,
        base: pd.DataFrame | None,
        timeout: float,
    ) -> tuple[np.ndarray, float, float]:
        pool = self._executor()
        try:
            return pool.submit(_score, uri, features, table, base).result(timeout=timeout)
        except BrokenProcessPool:
            self._discard(pool)
            raise

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
