"""Where a result came from: code commit, environment. Recorded with data and models."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

KEY_PACKAGES = (
    "pandas",
    "numpy",
    "scikit-learn",
    "pyarrow",
    "great-expectations",
    "mlflow",
    "prefect",
    "dvc",
)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _changed_sources(root: Path) -> list[str]:
    """Tracked files changed since the commit, other than the pipeline's own outputs
    (dvc.lock, the outputs it records and the .gitignore files DVC keeps beside them: a
    run rewrites those, and you commit them after it)."""
    status = _git(root, "status", "--porcelain", "--untracked-files=no") or ""
    recorded = dvc_lock_hashes(root)
    outputs = {"dvc.lock", *recorded}
    outputs.update(str(Path(out).parent / ".gitignore") for out in recorded)
    changed = [line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if line]
    return [
        path
        for path in changed
        if not any(path == out or path.startswith(out.rstrip("/") + "/") for out in outputs)
    ]


def code_version(root: Path) -> dict[str, Any]:
    """The git commit, whether the code or config was changed since (the tree was dirty),
    and a hash of that diff when it was."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff_sha256": None}
    changed = _changed_sources(root)
    dirty = bool(changed)
    diff = _git(root, "diff", "HEAD", "--", *changed) if dirty else None
    return {
        "commit": commit.strip(),
        "dirty": dirty,
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def environment(root: Path) -> dict[str, Any]:
    """Python, key package versions and the lock file's hash (checklist Mo1)."""
    lock = root / "uv.lock"
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "packages": versions,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
    }


def dvc_lock_hashes(root: Path) -> dict[str, str]:
    """Content hash of every output recorded in dvc.lock, by path."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    data = yaml.safe_load(lock.read_text()) or {}
    hashes = {}
    for stage in (data.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("md5"):
                hashes[out["path"]] = out["md5"]
    return hashes


def prefect_flow_run_id() -> str | None:
    """The Prefect flow run this code runs in, if any (never imports Prefect itself)."""
    import sys

    if "prefect" not in sys.modules:
        return None
    from prefect.runtime import flow_run

    return flow_run.id


def lineage_tags(
    root: Path,
    provenance: dict[str, Any],
    params: dict[str, Any],
    model: dict[str, Any],
    train_end_position: float,
) -> dict[str, str]:
    """Every lineage tag of a trained model, built once (the MLflow run carries them and
    its registered version copies them): code, data, params, environment, model, run."""
    import json
    import shlex
    import sys

    code = code_version(root)
    env = environment(root)
    hashes = dvc_lock_hashes(root)
    params_file = root / "params.yaml"
    tags = {
        "git.commit": code["commit"],
        "git.dirty": code["dirty"],
        "git.diff_sha256": code["diff_sha256"],
        "data.raw.md5": hashes.get("data/raw", ""),
        "data.features.md5": hashes.get("data/features/features.parquet", ""),
        "data.source": provenance.get("source"),
        "data.source_version": provenance.get("package_version"),
        "data.extracted_by_commit": (provenance.get("extracted_by") or {}).get("commit"),
        "data.extracted_at": provenance.get("extracted_at"),
        "data.deletions_sha256": provenance.get("deletions_sha256"),
        "params": json.dumps(params, sort_keys=True),
        "params.sha256": hashlib.sha256(params_file.read_bytes()).hexdigest()
        if params_file.is_file()
        else None,
        "model.sha256": model["sha256"],
        "model.features": json.dumps(model["features"]),
        "model.threshold": model["threshold"],
        "train.end_position": train_end_position,
        "env.python": env["python"],
        "env.lock_sha256": env["lock_sha256"],
        "prefect.flow_run_id": prefect_flow_run_id(),
        "command": shlex.join(sys.argv) if sys.argv else "",
        "reproduce": f"git checkout {code['commit']} && dvc repro && mlpipe register",
    }
    tags.update({f"env.{name}": version for name, version in env["packages"].items()})
    return {key: str(value) for key, value in tags.items()}
