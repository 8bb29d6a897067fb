"""Thin adapter over the MLflow Model Registry: versions, aliases and an audit history.

Aliases, not the deprecated stages: ``champion`` serves, ``challenger`` waits. Every
alias move appends an audit event (who, when, action, from, to, why) as a tag on the
registered model, so "what was serving at time T" has an answer in the registry itself.

Crash-safe: each alias operation is written ahead as a ``pending.move.*`` tag (the moves,
their audit keys, the version tags to set) before anything changes, and a registration
as ``pending.register.*`` before its version is created; whoever takes the lock next
finishes or undoes what a killed process left (mlpipe.release.aliases.recover). The lock
is a lease recorded in the registry itself (``lock``), so it holds across machines
sharing a tracking server, and every alias write is re-read and verified."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import signal
import socket
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from mlpipe.core.configs import RegistryConfig
from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings
from mlpipe.core.tracking import TrackingSettings, tracking_settings

CHAMPION = "champion"
CHALLENGER = "challenger"
AUDIT_PREFIX = "audit."
MOVE_PREFIX = "pending.move."
REGISTER_PREFIX = "pending.register."
LEASE_SUFFIX = ".mlpipe-lease"
LEASE_SOURCE = "mlpipe-lease:/ticket"
FAULT_VARIABLE = "MLPIPE_FAULT"
_faults_seen: dict[str, int] = {}


def fault_point(step: str) -> None:
    """Test hook for the crash tests: ``MLPIPE_FAULT=after:STEP`` (or ``after:STEP#N``, the
    N-th time) kills this process with SIGKILL, as ``kill -9`` would, right after STEP."""
    wanted = os.environ.get(FAULT_VARIABLE, "")
    if not wanted.startswith(f"after:{step}"):
        return
    _faults_seen[step] = _faults_seen.get(step, 0) + 1
    name, _, nth = wanted[len("after:") :].partition("#")
    if name == step and _faults_seen[step] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class RegistryError(PipelineError):
    """The registry is unreachable, or a version or alias is not what the command needs."""


@dataclass(frozen=True)
class AuditEvent:
    when: str
    who: str
    action: str
    alias: str
    from_version: str | None
    to_version: str | None
    why: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def check_reachable(settings: TrackingSettings, must_exist: bool) -> None:
    """Fail fast and clearly on a missing SQLite store or an unreachable server."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if must_exist and not path.is_file():
            raise RegistryError(f"no model registry at {path}: run `mlpipe run` first")
        if not path.parent.is_dir():
            raise RegistryError(f"the registry folder {path.parent} does not exist")
        return
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3):
                pass
        except (urllib.error.URLError, OSError) as error:
            host = urllib.parse.urlparse(uri).netloc
            raise RegistryError(
                f"the MLflow tracking server at {host} is unreachable: {error}"
            ) from None


@dataclass(frozen=True)
class VersionInfo:
    """A registered version and its tags, typed: what gate, serving and monitoring read."""

    version: str
    tags: dict[str, str]
    created_ms: int
    description: str
    run_id: str | None

    def _json(self, key: str, default: Any) -> Any:
        try:
            return json.loads(self.tags[key])
        except (KeyError, json.JSONDecodeError):
            return default

    @property
    def features(self) -> list[str]:
        return list(self._json("model.features", []))

    @property
    def threshold(self) -> float:
        return float(self.tags.get("model.threshold", 0.5))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._json("params", {}))

    @property
    def gate_verdict(self) -> str:
        return self.tags.get("gate.verdict", "none")

    @property
    def passed_gate(self) -> bool:
        return self.gate_verdict == "passed"

    @property
    def train_end(self) -> float | None:
        """Position (mlpipe.core.timeaxis) of the last time period the model trained on."""
        value = self.tags.get("train.end_position")
        return None if value in (None, "", "None") else float(value)

    @property
    def offline_roc_auc(self) -> float | None:
        value = self.tags.get("metrics.test.roc_auc")
        return None if value in (None, "", "None") else float(value)

    @property
    def sha256(self) -> str:
        return self.tags.get("model.sha256", "")


def _info(version: Any) -> VersionInfo:
    return VersionInfo(
        version=str(version.version),
        tags=dict(version.tags),
        created_ms=int(version.creation_timestamp or 0),
        description=version.description or "",
        run_id=version.run_id,
    )


@dataclass(frozen=True)
class ModelRecord:
    """A registered model as the readers see it: its tags and its aliases (alias -> version)."""

    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class SqliteStore:
    """MLflow's registry tables in a SQLite store, read and written directly for what the
    registry commands do most (aliases, tags): `mlpipe models`, `promote` or `rollback`
    do not pay MLflow's import (~3 s). Creating models and versions goes through MLflow."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _rows(self, sql: str, *args: Any, write: bool = False) -> list[tuple[Any, ...]]:
        if not self.path.is_file():
            return []
        mode = "rw" if write else "ro"
        try:
            with (
                closing(
                    sqlite3.connect(f"{self.path.as_uri()}?mode={mode}", uri=True, timeout=60)
                ) as db,
                db,
            ):
                return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []  # a store MLflow has not set up yet
            raise RegistryError(f"the MLflow store {self.path} cannot be read: {error}") from None
        except sqlite3.DatabaseError as error:
            raise RegistryError(
                f"the MLflow store {self.path} is corrupt ({error}): restore it from a backup"
            ) from None

    def model(self, name: str) -> ModelRecord | None:
        if not self._rows("SELECT 1 FROM registered_models WHERE name = ?", name):
            return None
        tags = self._rows("SELECT key, value FROM registered_model_tags WHERE name = ?", name)
        aliases = self._rows(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?", name
        )
        return ModelRecord(dict(tags), {alias: str(v) for alias, v in aliases})

    def versions(self, name: str, version: str | None = None) -> list[VersionInfo]:
        one = "" if version is None else " AND version = ?"
        args = (name,) if version is None else (name, int(version))
        rows = self._rows(
            "SELECT version, creation_time, description, run_id FROM model_versions "
            f"WHERE name = ? AND current_stage != 'Deleted_Internal'{one}",
            *args,
        )
        tags: dict[int, dict[str, str]] = {}
        for number, key, value in self._rows(
            f"SELECT version, key, value FROM model_version_tags WHERE name = ?{one}", *args
        ):
            tags.setdefault(int(number), {})[key] = value
        return [
            VersionInfo(str(number), tags.get(int(number), {}), int(created or 0), text or "", run)
            for number, created, text, run in rows
        ]

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._rows(
            "INSERT OR REPLACE INTO registered_model_tags (key, value, name) VALUES (?, ?, ?)",
            key,
            value,
            name,
            write=True,
        )

    def delete_model_tag(self, name: str, key: str) -> None:
        self._rows(
            "DELETE FROM registered_model_tags WHERE name = ? AND key = ?", name, key, write=True
        )

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._rows(
            "INSERT OR REPLACE INTO model_version_tags (key, value, name, version) "
            "VALUES (?, ?, ?, ?)",
            key,
            value,
            name,
            int(version),
            write=True,
        )

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        if version is None:
            self._rows(
                "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?",
                name,
                alias,
                write=True,
            )
            return
        self._rows(
            "INSERT OR REPLACE INTO registered_model_aliases (alias, version, name) "
            "VALUES (?, ?, ?)",
            alias,
            int(version),
            name,
            write=True,
        )


class RestStore:
    """The registry through a tracking server's REST API (the standard library, no MLflow
    import): reads, alias and tag writes, and the lock's tickets. Creating the project's
    model versions goes through MLflow."""

    def __init__(self, uri: str) -> None:
        self.base = uri.rstrip("/") + "/api/2.0/mlflow/"

    def _get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any] | None:
        return self._send("GET", endpoint + "?" + urllib.parse.urlencode(params))

    def _send(
        self, method: str, endpoint: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The answer, or None for "does not exist"; "already exists" raises ``Exists``."""
        request = urllib.request.Request(
            self.base + endpoint,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={**_auth(), "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            code = _error_code(error)
            if code == "RESOURCE_DOES_NOT_EXIST" or (error.code == 404 and not code):
                return None
            if code == "RESOURCE_ALREADY_EXISTS":
                raise Exists(endpoint) from None
            raise RegistryError(f"the MLflow tracking server answered {error}") from None
        except (urllib.error.URLError, OSError) as error:
            raise RegistryError(f"the MLflow tracking server is unreachable: {error}") from None

    def model(self, name: str) -> ModelRecord | None:
        found = self._get("registered-models/get", {"name": name})
        if found is None:
            return None
        model = found["registered_model"]
        return ModelRecord(
            {t["key"]: t.get("value", "") for t in model.get("tags", [])},
            {a["alias"]: str(a["version"]) for a in model.get("aliases", [])},
        )

    def versions(self, name: str, version: str | None = None) -> list[VersionInfo]:
        if version is not None:
            found = self._get("model-versions/get", {"name": name, "version": version})
            return [] if found is None else [_rest_version(found["model_version"])]
        params: dict[str, Any] = {"filter": f"name='{name}'", "max_results": 1000}
        versions = []
        while True:
            page = self._get("model-versions/search", params) or {}
            versions += [_rest_version(v) for v in page.get("model_versions", [])]
            if not page.get("next_page_token"):
                return versions
            params["page_token"] = page["next_page_token"]

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._send("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_model_tag(self, name: str, key: str) -> None:
        self._send("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._send(
            "POST",
            "model-versions/set-tag",
            {"name": name, "version": version, "key": key, "value": value},
        )

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        if version is None:
            self._send("DELETE", "registered-models/alias", {"name": name, "alias": alias})
        else:
            self._send(
                "POST",
                "registered-models/alias",
                {"name": name, "alias": alias, "version": version},
            )

    def create_model(self, name: str, description: str) -> None:
        with suppress(Exists):
            self._send(
                "POST", "registered-models/create", {"name": name, "description": description}
            )

    def create_ticket(self, name: str, tags: dict[str, str]) -> str:
        found = self._send(
            "POST",
            "model-versions/create",
            {
                "name": name,
                "source": LEASE_SOURCE,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )
        return str((found or {})["model_version"]["version"])

    def delete_version(self, name: str, version: str) -> None:
        self._send("DELETE", "model-versions/delete", {"name": name, "version": version})


class Exists(RegistryError):
    """The tracking server already has what was to be created."""


def _error_code(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(error).get("error_code", ""))
    except (ValueError, OSError):
        return ""


def _rest_version(version: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        version=str(version["version"]),
        tags={t["key"]: t.get("value", "") for t in version.get("tags", [])},
        created_ms=int(version.get("creation_timestamp") or 0),
        description=version.get("description") or "",
        run_id=version.get("run_id"),
    )


def _auth() -> dict[str, str]:
    """MLflow's own client settings for an authenticated server."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        import base64

        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


class ClientStore:
    """Any other store (PostgreSQL, MySQL, ...), through MLflow's client."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def model(self, name: str) -> ModelRecord | None:
        from mlflow.exceptions import MlflowException

        try:
            model = self.registry.client.get_registered_model(name)
        except MlflowException:
            return None
        return ModelRecord(dict(model.tags), {alias: str(v) for alias, v in model.aliases.items()})

    def versions(self, name: str, version: str | None = None) -> list[VersionInfo]:
        from mlflow.exceptions import MlflowException

        client = self.registry.client
        if version is not None:
            try:
                return [_info(client.get_model_version(name, str(version)))]
            except MlflowException:
                return []
        return [_info(v) for v in client.search_model_versions(f"name='{name}'")]

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self.registry.client.set_registered_model_tag(name, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        from mlflow.exceptions import MlflowException

        with suppress(MlflowException):
            self.registry.client.delete_registered_model_tag(name, key)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.registry.client.set_model_version_tag(name, version, key, value)

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        from mlflow.exceptions import MlflowException

        if version is None:
            with suppress(MlflowException):
                self.registry.client.delete_registered_model_alias(name, alias)
        else:
            self.registry.client.set_registered_model_alias(name, alias, version)

    def create_model(self, name: str, description: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.registry.client.create_registered_model(name, description=description)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def create_ticket(self, name: str, tags: dict[str, str]) -> str:
        created = self.registry.client.create_model_version(name, source=LEASE_SOURCE, tags=tags)
        return str(created.version)

    def delete_version(self, name: str, version: str) -> None:
        from mlflow.exceptions import MlflowException

        with suppress(MlflowException):  # another waiter dropped it as stale first
            self.registry.client.delete_model_version(name, version)


class Registry:
    """The project's registered model: versions, aliases, tags and the audit history.
    The only module (with mlpipe.core.tracking) that talks to MLflow."""

    def __init__(self, paths: ProjectPaths, must_exist: bool = True) -> None:
        self.paths = paths
        self.settings = tracking_settings(paths)
        check_reachable(self.settings, must_exist)
        self.config = load_settings(RegistryConfig, paths.configs / "registry.yaml")
        self.name = self.config.model_name
        self._held = 0
        uri = self.settings.tracking_uri
        self.store: SqliteStore | RestStore | ClientStore = (
            SqliteStore(Path(uri[len("sqlite:///") :]))
            if uri.startswith("sqlite:///")
            else RestStore(uri)
            if uri.startswith(("http://", "https://"))
            else ClientStore(self)
        )

    @cached_property
    def client(self) -> Any:
        """MLflow's client, made on the first write (its import costs ~3 s)."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.settings.tracking_uri)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise registrations and alias moves between processes. A SQLite store
        lives on one machine: a file lock beside it (released by the OS whatever kills
        the holder). A tracking server may be shared by many machines: a ticket lock in
        the registry itself, see ``_take_ticket``. Re-entrant within a process."""
        if self._held:
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
            return
        with self._file_lock() if isinstance(self.store, SqliteStore) else self._lease():
            self._held = 1
            try:
                yield
            finally:
                self._held = 0

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        assert isinstance(self.store, SqliteStore)
        with Path(f"{self.store.path}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _lease(self) -> Iterator[None]:
        ticket = self._take_ticket()
        try:
            self._wait_turn(ticket)
            yield
        finally:
            self.store.delete_version(self.lease_name, ticket)

    @property
    def lease_name(self) -> str:
        return self.name + LEASE_SUFFIX

    def _take_ticket(self) -> str:
        """Each writer creates a version of the model ``<name>.mlpipe-lease`` (the server
        numbers them atomically) and waits until no lower live ticket is left: a ticket
        whose holder died on this machine, or whose lease (configs/registry.yaml
        lease_seconds) ran out, no longer counts."""
        assert not isinstance(self.store, SqliteStore)
        self.store.create_model(
            self.lease_name, f"mlpipe's lock for {self.name}: one version per writer"
        )
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "who": _who(),
            "expires": time.time() + self.config.lease_seconds,
        }
        return self.store.create_ticket(self.lease_name, {"holder": json.dumps(holder)})

    def _wait_turn(self, ticket: str) -> None:
        assert not isinstance(self.store, SqliteStore)
        deadline = time.monotonic() + self.config.wait_seconds
        pause = 0.02
        while True:
            ahead = []
            for other in sorted(self.store.versions(self.lease_name), key=_number):
                if int(other.version) >= int(ticket):
                    continue
                if _stale(other.tags.get("holder", "")):
                    self.store.delete_version(self.lease_name, other.version)
                else:
                    ahead.append(other)
            if not ahead:
                return
            if time.monotonic() > deadline:
                holder = ahead[0].tags.get("holder", "?")
                raise RegistryError(
                    f"the registry of {self.name} stayed locked for "
                    f"{self.config.wait_seconds:g} s (held by {holder}): retry later"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def exists(self) -> bool:
        return self.store.model(self.name) is not None

    def ensure_model(self, description: str = "") -> None:
        if not self.exists():
            from mlflow.exceptions import MlflowException

            try:
                self.client.create_registered_model(self.name, description=description)
            except MlflowException:
                if not self.exists():
                    raise

    def versions(self) -> list[VersionInfo]:
        return sorted(self.store.versions(self.name), key=_number)

    def version(self, version: str | int) -> VersionInfo:
        found = self.store.versions(self.name, str(version)) if str(version).isdigit() else []
        if not found:
            known = ", ".join(v.version for v in self.versions()) or "none"
            raise RegistryError(f"{self.name} has no version {version} (known versions: {known})")
        return found[0]

    def aliases(self) -> dict[str, list[str]]:
        """Version -> its aliases."""
        by_version: dict[str, list[str]] = {}
        for alias, version in self.model_record().aliases.items():
            by_version.setdefault(version, []).append(alias)
        return by_version

    def find_by_tag(self, key: str, value: str) -> VersionInfo | None:
        for version in self.versions():
            if version.tags.get(key) == value:
                return version
        return None

    def alias(self, alias: str) -> VersionInfo | None:
        version = self.model_record().aliases.get(alias)
        return None if version is None else self.version(version)

    def model_record(self) -> ModelRecord:
        return self.store.model(self.name) or ModelRecord()

    def register(
        self, source: str, run_id: str | None, tags: dict[str, str], description: str
    ) -> VersionInfo:
        from mlpipe.core.tracking import point_mlflow_at

        self.ensure_model("Registered by mlpipe: see each version's model card.")
        # MLflow resolves a logged model's URI (models:/m-...) in its current store, and a
        # tracking server wants it named
        point_mlflow_at(self.settings.tracking_uri)
        model_id = source.removeprefix("models:/").split("/")[0]
        return _info(
            self.client.create_model_version(
                self.name,
                source=source,
                run_id=run_id,
                tags=tags,
                description=description,
                model_id=model_id if source.startswith("models:/m-") else None,
            )
        )

    def set_tag(self, version: str, key: str, value: str) -> None:
        self.store.set_version_tag(self.name, str(version), key, value)

    def model_uri(self, version: str) -> str:
        return f"models:/{self.name}/{version}"

    def load_model(self, version: str) -> Any:
        """The registered model object (scikit-learn compatible, ``predict_proba``)."""
        from mlpipe.core.tracking import load_model

        return load_model(self.model_uri(version), self.settings.tracking_uri)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def model_tags(self) -> dict[str, str]:
        return self.model_record().tags

    def pending(self) -> dict[str, dict[str, Any]]:
        """Write-ahead intents a killed process left (key -> intent): alias operations and
        registrations that did not finish."""
        return {
            key: json.loads(value)
            for key, value in sorted(self.model_tags().items())
            if key.startswith((MOVE_PREFIX, REGISTER_PREFIX))
        }

    def begin_registration(self, sha256: str, force_reason: str | None) -> str:
        """Record, before the version exists, that the model ``sha256`` is being registered."""
        key = f"{REGISTER_PREFIX}{sha256[:16]}"
        intent = {"sha256": sha256, "force_reason": force_reason, "who": _who()}
        self.store.set_model_tag(self.name, key, json.dumps(intent))
        fault_point("register.intent")
        return key

    def end_intent(self, key: str) -> None:
        self.store.delete_model_tag(self.name, key)

    def move_alias(self, alias: str, version: str | None, action: str, why: str) -> AuditEvent:
        """Point ``alias`` at ``version`` (None removes it) and append an audit event.
        Call inside ``lock()``."""
        return self.move_aliases([(alias, version)], action, why)[0]

    def move_aliases(
        self,
        moves: list[tuple[str, str | None]],
        action: str,
        why: str,
        tags: Sequence[tuple[str, str, str]] = (),
    ) -> list[AuditEvent]:
        """One alias operation: the ``moves`` in order, each audited, then the version
        ``tags`` (version, key, value). Written ahead as one intent, so a crash at any
        point is finished (or, if nothing moved yet, undone) by ``recover_moves``.
        Call inside ``lock()``."""
        stamp = f"{time.time_ns():020d}.{uuid.uuid4().hex[:6]}"
        planned = []
        for index, (alias, version) in enumerate(moves):
            current = self.alias(alias)
            planned.append(
                {
                    "alias": alias,
                    "from": current.version if current is not None else None,
                    "to": str(version) if version is not None else None,
                    "audit_key": f"{AUDIT_PREFIX}{stamp}.{index}",
                }
            )
        intent = {
            "action": action,
            "why": why,
            "who": _who(),
            "when": datetime.now(UTC).isoformat(timespec="microseconds"),
            "moves": planned,
            "tags": [list(tag) for tag in tags],
        }
        key = f"{MOVE_PREFIX}{stamp}"
        self.store.set_model_tag(self.name, key, json.dumps(intent))
        fault_point("move.intent")
        return self._finish(key, intent, self.model_tags())

    def _finish(self, key: str, intent: dict[str, Any], done: dict[str, str]) -> list[AuditEvent]:
        """Carry an alias operation to its end, skipping the moves already audited; each
        write is re-read (compare-and-set) so a move made behind the lock is caught."""
        events = []
        for move in intent["moves"]:
            event = AuditEvent(
                when=intent["when"],
                who=intent["who"],
                action=intent["action"],
                alias=move["alias"],
                from_version=move["from"],
                to_version=move["to"],
                why=intent["why"],
            )
            events.append(event)
            if move["audit_key"] in done:
                continue
            self._set_alias(move["alias"], move["to"])
            fault_point("move.alias")
            self.store.set_model_tag(self.name, move["audit_key"], event.to_json())
            fault_point("move.audit")
        for version, tag, value in intent["tags"]:
            self.set_tag(version, tag, value)
        fault_point("move.tags")
        self.end_intent(key)
        return events

    def _set_alias(self, alias: str, version: str | None) -> None:
        current = self.alias(alias)
        if (current.version if current is not None else None) != version:
            self.store.set_alias(self.name, alias, version)
        after = self.alias(alias)
        if (after.version if after is not None else None) != version:
            raise RegistryError(
                f"the alias {alias} of {self.name} changed while it was being moved to "
                f"{version}: another writer ignored the registry lock; check `mlpipe history`"
            )

    def recover_moves(self) -> list[str]:
        """Finish the alias operations a killed process left half-done, or undo those
        where nothing moved yet; returns what was done. Call inside ``lock()``."""
        notes = []
        tags = self.model_tags()
        for key in sorted(k for k in tags if k.startswith(MOVE_PREFIX)):
            intent = json.loads(tags[key])
            first = intent["moves"][0] if intent["moves"] else None
            untouched = first is not None and first["audit_key"] not in tags
            if untouched:
                current = self.alias(first["alias"])
                untouched = (current.version if current is not None else None) == first["from"]
            if untouched:
                self.end_intent(key)
                notes.append(f"undone an interrupted {intent['action']}: no alias had moved")
                continue
            self._finish(key, intent, tags)
            moved = ", ".join(
                f"{m['alias']} {m['from'] or '-'} -> {m['to'] or '-'}" for m in intent["moves"]
            )
            notes.append(f"finished an interrupted {intent['action']} ({moved}), audited")
        return notes

    def history(self) -> list[AuditEvent]:
        tags = self.model_tags()
        return [
            AuditEvent(**json.loads(tags[key]))
            for key in sorted(tags)
            if key.startswith(AUDIT_PREFIX)
        ]

    def serving_at(self, when: datetime) -> str | None:
        """The champion version at time ``when``, from the audit history."""
        serving = None
        for event in self.history():
            if event.alias == CHAMPION and datetime.fromisoformat(event.when) <= when:
                serving = event.to_version
        return serving


def _number(version: VersionInfo) -> int:
    return int(version.version)


def _stale(holder: str) -> bool:
    """A lock ticket whose lease ran out, or whose process on this machine is gone."""
    try:
        info = json.loads(holder)
    except json.JSONDecodeError:
        return True
    if time.time() > float(info.get("expires", 0)):
        return True
    if info.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _who() -> str:
    try:
        return os.environ.get("MLPIPE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
