"""Thin adapter over the MLflow Model Registry: versions, aliases and an audit history.

Aliases, not the deprecated stages: ``champion`` serves, ``challenger`` waits. Every
alias move appends an audit event (who, when, action, from, to, why) as a tag on the
registered model, so "what was serving at time T" has an answer in the registry itself."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlpipe.core.configs import RegistryConfig
from mlpipe.core.errors import PipelineError
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings
from mlpipe.core.tracking import TrackingSettings, tracking_settings

CHAMPION = "champion"
CHALLENGER = "challenger"
AUDIT_PREFIX = "audit."


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
        import httpx

        try:
            httpx.get(uri.rstrip("/") + "/health", timeout=3).raise_for_status()
        except httpx.HTTPError as error:
            host = urlparse(uri).netloc
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


class Registry:
    """The project's registered model: versions, aliases, tags and the audit history.
    The only module (with mlpipe.core.tracking) that talks to MLflow."""

    def __init__(self, paths: ProjectPaths, must_exist: bool = True) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        self.paths = paths
        self.settings = tracking_settings(paths)
        check_reachable(self.settings, must_exist)
        self.name = load_settings(RegistryConfig, paths.configs / "registry.yaml").model_name
        self.client = MlflowClient(tracking_uri=self.settings.tracking_uri)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise registrations and alias moves between processes on this machine: beside
        the SQLite store (so projects sharing it share the lock), else in the project."""
        uri = self.settings.tracking_uri
        if uri.startswith("sqlite:///"):
            path = Path(uri[len("sqlite:///") :] + ".lock")
        else:
            path = self.paths.root / ".mlpipe" / "registry.lock"
            path.parent.mkdir(exist_ok=True)
        with path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            return False
        return True

    def ensure_model(self, description: str = "") -> None:
        if not self.exists():
            from mlflow.exceptions import MlflowException

            try:
                self.client.create_registered_model(self.name, description=description)
            except MlflowException:
                if not self.exists():
                    raise

    def versions(self) -> list[VersionInfo]:
        if not self.exists():
            return []
        found = self.client.search_model_versions(f"name='{self.name}'")
        return sorted((_info(v) for v in found), key=lambda v: int(v.version))

    def version(self, version: str | int) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        try:
            return _info(self.client.get_model_version(self.name, str(version)))
        except MlflowException:
            known = ", ".join(str(v.version) for v in self.versions()) or "none"
            raise RegistryError(
                f"{self.name} has no version {version} (known versions: {known})"
            ) from None

    def aliases(self) -> dict[str, list[str]]:
        """Version -> its aliases."""
        if not self.exists():
            return {}
        by_version: dict[str, list[str]] = {}
        for alias, version in self.client.get_registered_model(self.name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        return by_version

    def find_by_tag(self, key: str, value: str) -> VersionInfo | None:
        for version in self.versions():
            if version.tags.get(key) == value:
                return version
        return None

    def alias(self, alias: str) -> VersionInfo | None:
        from mlflow.exceptions import MlflowException

        if not self.exists():
            return None
        try:
            return _info(self.client.get_model_version_by_alias(self.name, alias))
        except MlflowException:
            return None

    def register(
        self, source: str, run_id: str | None, tags: dict[str, str], description: str
    ) -> VersionInfo:
        self.ensure_model("Registered by mlpipe: see each version's model card.")
        return _info(
            self.client.create_model_version(
                self.name, source=source, run_id=run_id, tags=tags, description=description
            )
        )

    def set_tag(self, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(self.name, str(version), key, value)

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

    def move_alias(self, alias: str, version: str | None, action: str, why: str) -> AuditEvent:
        """Point ``alias`` at ``version`` (None removes it) and append an audit event.
        Call inside ``lock()``."""
        current = self.alias(alias)
        if version is None:
            if current is not None:
                self.client.delete_registered_model_alias(self.name, alias)
        else:
            self.client.set_registered_model_alias(self.name, alias, str(version))
        event = AuditEvent(
            when=datetime.now(UTC).isoformat(timespec="microseconds"),
            who=_who(),
            action=action,
            alias=alias,
            from_version=str(current.version) if current is not None else None,
            to_version=str(version) if version is not None else None,
            why=why,
        )
        key = f"{AUDIT_PREFIX}{time.time_ns():020d}.{uuid.uuid4().hex[:6]}"
        self.client.set_registered_model_tag(self.name, key, event.to_json())
        return event

    def history(self) -> list[AuditEvent]:
        if not self.exists():
            return []
        tags = self.client.get_registered_model(self.name).tags
        events = [
            AuditEvent(**json.loads(value))
            for key, value in sorted(tags.items())
            if key.startswith(AUDIT_PREFIX)
        ]
        return events

    def serving_at(self, when: datetime) -> str | None:
        """The champion version at time ``when``, from the audit history."""
        serving = None
        for event in self.history():
            if event.alias == CHAMPION and datetime.fromisoformat(event.when) <= when:
                serving = event.to_version
        return serving


def _who() -> str:
    try:
        return os.environ.get("MLPIPE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
