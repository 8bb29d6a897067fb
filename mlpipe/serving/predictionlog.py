"""The prediction log: every request's inputs, features, each model's output and version,
latency and request id, in a local SQLite file (WAL mode). ``latency_ms`` is the whole
request (or, on a challenger's row, all of the challenger's own work), ``model_ms`` the
model's share of it. Identifier and sensitive columns arrive here already pseudonymised.

Writes go through a queue to one writer thread that commits in batches, so logging adds
microseconds to a request; ``close`` drains the queue, so a clean shutdown loses nothing.
Labels arriving later are stored by key and joined on read."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    key TEXT,
    role TEXT NOT NULL,
    version TEXT,
    mode TEXT,
    served INTEGER NOT NULL,
    probability REAL,
    decision INTEGER,
    latency_ms REAL,
    model_ms REAL,
    error TEXT,
    inputs TEXT,
    features TEXT,
    violations TEXT
);
CREATE INDEX IF NOT EXISTS predictions_key ON predictions (key);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, label INTEGER NOT NULL, ts REAL);
"""
# columns added since the first version of the log, with their SQLite types
ADDED_COLUMNS = {"model_ms": "REAL"}
COLUMNS = (
    "request_id",
    "ts",
    "key",
    "role",
    "version",
    "mode",
    "served",
    "probability",
    "decision",
    "latency_ms",
    "model_ms",
    "error",
    "inputs",
    "features",
    "violations",
)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    _add_missing_columns(connection)
    return connection


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """A log written by an older version lacks newer columns: add them (empty on old rows)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(predictions)")}
    for column, kind in ADDED_COLUMNS.items():
        if column in present:
            continue
        try:
            connection.execute(f"ALTER TABLE predictions ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as error:  # another process added it meanwhile
            if "duplicate column" not in str(error):
                raise


class PredictionLog:
    def __init__(self, path: Path, batch_size: int = 500, flush_seconds: float = 0.2) -> None:
        self.path = path
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._connection = connect(path)
        self._thread = threading.Thread(target=self._write_loop, name="prediction-log", daemon=True)
        self._thread.start()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows for writing; never blocks on disk (serialised by the writer thread)."""
        self._queue.put(rows)

    def _write_loop(self) -> None:
        pending: list[tuple[Any, ...]] = []
        closing = False
        while not closing:
            deadline = time.monotonic() + self._flush_seconds
            while len(pending) < self._batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                pending.extend(tuple(_cell(row.get(c)) for c in COLUMNS) for row in item)
            if pending:
                placeholders = ", ".join("?" for _ in COLUMNS)
                with self._connection:
                    self._connection.executemany(
                        f"INSERT INTO predictions ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                        pending,
                    )
                pending = []

    def close(self) -> None:
        """Write everything queued, then stop."""
        self._queue.put(None)
        self._thread.join()
        self._connection.close()


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value


def add_labels(path: Path, labels: dict[str, int]) -> int:
    connection = connect(path)
    try:
        with connection:
            connection.executemany(
                "INSERT OR REPLACE INTO labels (key, label, ts) VALUES (?, ?, ?)",
                [(key, int(label), time.time()) for key, label in labels.items()],
            )
    finally:
        connection.close()
    return len(labels)


def read_window(path: Path, since: float | None = None, until: float | None = None) -> pd.DataFrame:
    """Logged predictions in [since, until), with their labels where they have arrived."""
    if not path.is_file():
        from mlpipe.core.errors import DataError

        raise DataError(f"no prediction log at {path}: serve some traffic first")
    connection = connect(path)
    try:
        return pd.read_sql_query(
            "SELECT p.*, l.label FROM predictions p LEFT JOIN labels l ON l.key = p.key "
            "WHERE p.ts >= ? AND p.ts < ? ORDER BY p.id",
            connection,
            params=(since or 0.0, until or float("inf")),
        )
    finally:
        connection.close()


# --- explanation, data subject deletion and retention (checklists I5, D5) --------------


def find(path: Path, key: str) -> dict[str, Any] | None:
    """The latest logged row for ``key`` that carries the request's inputs (the
    champion's), inputs and features decoded; None when the key was never logged."""
    if not path.is_file():
        return None
    connection = connect(path)
    try:
        connection.row_factory = sqlite3.Row
        row = connection.execute(
            "SELECT * FROM predictions WHERE key = ? AND inputs IS NOT NULL "
            "ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()
    finally:
        connection.close()
    if row is None:
        return None
    found = dict(row)
    for column in ("inputs", "features", "violations"):
        found[column] = json.loads(found[column]) if found[column] else None
    return found


def _erase(path: Path, statements: dict[str, tuple[str, tuple[Any, ...]]]) -> dict[str, int]:
    """Run deletions with SQLite's secure_delete on (freed pages are overwritten, so the
    rows cannot be read back from the file), then fold the WAL into the database and
    truncate it (it would otherwise keep copies of the deleted rows). Rows deleted, by name."""
    if not path.is_file():
        return dict.fromkeys(statements, 0)
    connection = connect(path)
    try:
        connection.execute("PRAGMA secure_delete=ON")
        with connection:
            counts = {
                name: connection.execute(sql, args).rowcount
                for name, (sql, args) in statements.items()
            }
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return counts


def forget(path: Path, keys: list[str]) -> dict[str, int]:
    """Delete every prediction and label of these keys (a data subject's erasure)."""
    chosen = (json.dumps(list(keys)),)
    return _erase(
        path,
        {
            "predictions": (
                "DELETE FROM predictions WHERE key IN (SELECT value FROM json_each(?))",
                chosen,
            ),
            "labels": ("DELETE FROM labels WHERE key IN (SELECT value FROM json_each(?))", chosen),
        },
    )


def purge(path: Path, before: float) -> dict[str, int]:
    """Delete predictions logged before ``before`` (epoch seconds), then the labels older
    than that whose predictions are all gone (a label newer than the cut-off may be
    waiting for its prediction, so it stays)."""
    return _erase(
        path,
        {
            "predictions": ("DELETE FROM predictions WHERE ts < ?", (before,)),
            "labels": (
                "DELETE FROM labels WHERE ts < ? AND key NOT IN "
                "(SELECT key FROM predictions WHERE key IS NOT NULL)",
                (before,),
            ),
        },
    )
