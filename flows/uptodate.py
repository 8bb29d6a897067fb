"""Whether `mlpipe run` has anything to do, answered in about the time of `dvc status`:
no Prefect, no MLflow, no Great Expectations imported.

Nothing to do means DVC reports every stage unchanged and the current model (the hash of
models/model.joblib in dvc.lock) is registered. The second half is a record written after
a registration (.mlpipe/registered.json), checked against the store each time: a record
whose version is gone or holds another model (a store restored from a backup, reset,
pointed elsewhere) is stale, and the release steps run again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlpipe.core.configs import RegistryConfig
from mlpipe.core.io import file_sha256, write_json
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import load_settings
from mlpipe.core.tracking import tracking_settings

MODEL = "models/model.joblib"
RECORD = "registered.json"


def locked_md5(root: Path, out: str = MODEL) -> str | None:
    """The hash dvc.lock records for the output ``out``."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for entry in stage.get("outs", []):
            if entry.get("path") == out:
                return entry.get("md5")
    return None


def record_registration(paths: ProjectPaths, result: dict[str, Any]) -> None:
    """After gate and register: this model (by its dvc.lock hash) is this version."""
    write_json(
        paths.state / RECORD,
        {
            "model_md5": locked_md5(paths.root),
            "model_sha256": file_sha256(paths.root / MODEL),
            "version": str(result["version"]),
            "model_name": _model_name(paths),
            "tracking_uri": tracking_settings(paths).tracking_uri,
        },
    )


def _model_name(paths: ProjectPaths) -> str:
    return load_settings(RegistryConfig, paths.configs / "registry.yaml").model_name


def registered_version(paths: ProjectPaths) -> str | None:
    """The registered version of the current model if the record says so and the store
    agrees (same version, same model hash); None otherwise (the release steps must run)."""
    path = paths.state / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return None
    settings = tracking_settings(paths)
    md5 = locked_md5(paths.root)
    if (
        not isinstance(record, dict)
        or md5 is None
        or record.get("model_md5") != md5
        or record.get("tracking_uri") != settings.tracking_uri
        or record.get("model_name") != _model_name(paths)
    ):
        return None
    version = str(record.get("version"))
    stored = _stored_sha256(paths, version)
    return version if stored and stored == record.get("model_sha256") else None


def _stored_sha256(paths: ProjectPaths, version: str) -> str | None:
    """The model hash the registry holds for ``version`` (read without importing MLflow);
    None when the version is not there or a killed registration or alias move is pending
    (the release steps then run, and finish it)."""
    from mlpipe.core.registry import Registry, RegistryError

    try:
        registry = Registry(paths)
        if registry.pending() or not version.isdigit():
            return None
        found = registry.store.versions(registry.name, version)
    except RegistryError:
        return None
    return found[0].sha256 if found else None


def nothing_to_do(paths: ProjectPaths, release: bool) -> str | None:
    """What a run would skip, and why, when there is nothing to do; None when there is."""
    from dvc.exceptions import DvcException

    from mlpipe.core.dag import changed

    try:
        if changed(paths.root):
            return None
    except DvcException:  # the run reports it, after checking the settings DVC reads
        return None
    if not release:
        return (
            "nothing to do: DVC reports every stage of dvc.yaml unchanged (no gate or "
            "registration asked): no flow run started; `mlpipe run --force` re-runs the stages"
        )
    version = registered_version(paths)
    if version is None:
        return None
    return (
        f"nothing to do: DVC reports every stage of dvc.yaml unchanged and this model is "
        f"registered as version {version} (it passed the gate then): skipped the flow run, "
        "the gate and registration; `mlpipe run --force` re-runs everything"
    )
