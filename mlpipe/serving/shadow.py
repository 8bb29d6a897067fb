"""The challenger's own process in shadow mode: its extra features and its model run in a
spawned process, so they never compete with the response path for the interpreter, and a
crash there cannot take the service down (a broken or stuck process is replaced on next
use). The process never outlives the service, however the service ends."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
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
    """The model at ``uri``, loaded once (only the current challenger is kept), with the
    serving runtime when it has one."""
    model = _MODELS.get(uri)
    if model is None:
        from mlpipe.core.tracking import load_model
        from mlpipe.serving.fasttrees import fast_model

        model = load_model(uri)
        model = fast_model(model) or model  # as fast as the champion's, same answers
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


def _orphan_guard(parent: int) -> None:
    """In the shadow process: die with the service, however it ends (``kill -9``
    included). Linux signals us when the parent dies; elsewhere, and should the parent
    have died before that was set up, a thread polls for it."""
    try:
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    if os.getppid() != parent:
        os._exit(0)
    threading.Thread(target=watch, name="orphan-guard", daemon=True).start()


def _serve(connection: Connection, root: str, tracking_uri: str, parent: int) -> None:
    """The shadow process: answer (request id, function, arguments) messages until the
    service closes the pipe; an exception goes back as text, the process lives on."""
    _orphan_guard(parent)
    _init(root, tracking_uri)
    calls = {"model": _model, "score": _score}
    while True:
        try:
            number, name, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: Any = (number, True, calls[name](*args))
        except Exception as error:
            reply = (number, False, repr(error))
        connection.send(reply)


class ShadowProcess:
    """One spawned worker process, started on first use and replaced after a crash or a
    timeout. Driven by one thread at a time (the service's shadow thread); ``close`` may
    come from another and kills the process, which ends any call waiting on it."""

    def __init__(self, root: Path, tracking_uri: str) -> None:
        self._args = (str(root), tracking_uri)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._number = 0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def _started(self) -> Connection:
        with self._lock:
            if self._closed:
                raise RuntimeError("the shadow process is closed")
            if self._process is None or not self._process.is_alive():
                self._stop()
                context = multiprocessing.get_context("spawn")
                ours, theirs = context.Pipe()
                self._process = context.Process(
                    target=_serve,
                    args=(theirs, *self._args, os.getpid()),
                    name="mlpipe-shadow",
                    daemon=True,
                )
                self._process.start()
                theirs.close()
                self._connection = ours
            return self._connection

    def _stop(self) -> None:
        """Kill the process (it may be stuck in a challenger's code); with the lock held."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is not None and process.is_alive():
            process.kill()
            process.join(5)

    def _call(self, name: str, args: tuple, timeout: float) -> Any:
        connection = self._started()
        self._number += 1
        number = self._number
        deadline = time.monotonic() + timeout
        try:
            connection.send((number, name, args))
            while True:
                if not connection.poll(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"the challenger took more than {timeout} s")
                answered, ok, value = connection.recv()
                if answered == number:
                    break
        except (TimeoutError, EOFError, OSError) as error:
            with self._lock:  # stuck or gone: the next call starts a fresh process
                if self._connection is connection:
                    self._stop()
            raise RuntimeError(f"shadow process: {error!r}") from None
        if not ok:
            raise RuntimeError(value)
        return value

    def warm(self, uri: str, timeout: float) -> None:
        """Load the challenger now (imports included), not on its first request."""
        self._call("model", (uri,), timeout)

    def score(
        self,
        uri: str,
        features: list[str],
        table: pd.DataFrame,
        base: pd.DataFrame | None,
        timeout: float,
    ) -> tuple[np.ndarray, float, float]:
        return self._call("score", (uri, features, table, base), timeout)

    def close(self) -> None:
        """Kill the process now; any call waiting on it fails at once."""
        with self._lock:
            self._closed = True
            self._stop()
