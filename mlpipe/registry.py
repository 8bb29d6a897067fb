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

from mlpipe.config import load_yaml_config
from mlpipe.errors import PipelineError
from mlpipe.paths import ProjectPaths
from mlpipe.tracking import TrackingSettings, tracking_settings

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


def model_name(paths: ProjectPaths) -> str:
    return str(load_yaml_config(paths.configs / "registry.yaml").get("model_name", "model"))


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


class Registry:
    def __init__(self, paths: ProjectPaths, must_exist: bool = True) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        self.paths = paths
        self.settings = tracking_settings(paths)
        check_reachable(self.settings, must_exist)
        self.name = model_name(paths)
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

    def versions(self) -> list[Any]:
        if not self.exists():
            return []
        found = self.client.search_model_versions(f"name='{self.name}'")
        return sorted(found, key=lambda v: int(v.version))

    def version(self, version: str | int) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(self.name, str(version))
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

    def find_by_tag(self, key: str, value: str) -> Any | None:
        for version in self.versions():
            if version.tags.get(key) == value:
                return version
        return None

    def alias(self, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        if not self.exists():
            return None
        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException:
            return None

    def register(
        self, source: str, run_id: str | None, tags: dict[str, str], description: str
    ) -> Any:
        self.ensure_model("Registered by mlpipe: see each version's model card.")
        return self.client.create_model_version(
            self.name, source=source, run_id=run_id, tags=tags, description=description
        )

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
