"""forget and purge (checklist D5): erase a data subject's rows from the prediction log,
and keep them out of every later training run; drop log rows past their retention.

The deletion list ``configs/deletions.txt`` is tracked by git and is a dependency of the
ingest stage: ``mlpipe forget`` appends to it, ingest drops the main table's rows whose
domain key it lists (so data/raw, the feature table and every model trained from them
exclude the subject), and the provenance record, the MLflow run and the registered
version carry its sha256 (tag ``data.deletions_sha256``): which list a model honoured.
One line per key: ``key<TAB>date<TAB>reason``; ``#`` starts a comment."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpipe.core.errors import ConfigError, DataError
from mlpipe.core.io import write_text
from mlpipe.core.project import Project
from mlpipe.serving import predictionlog
from tasks.explain import explanation_files

DELETIONS = Path("configs") / "deletions.txt"
HEADER = (
    "# Data subjects erased with `mlpipe forget KEY...`: ingest drops the rows of these\n"
    "# keys, so no later training run sees them. Commit this file with the run it changes.\n"
    "# key<TAB>date<TAB>reason\n"
)


def deletions_path(project: Project) -> Path:
    return project.paths.root / DELETIONS


def read_deletions(path: Path) -> list[str]:
    """The listed keys, in order (a missing file lists none)."""
    if not path.is_file():
        return []
    keys = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keys.append(line.split("\t", 1)[0].strip())
    return list(dict.fromkeys(keys))


def deletions_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def add_deletions(path: Path, keys: list[str], reason: str, date: str) -> list[str]:
    """Append the keys not listed yet; return them."""
    bad = [key for key in keys if not key.strip() or any(c in key for c in "\t\r\n#")]
    if bad:
        raise DataError(f"keys cannot be empty or hold tabs, newlines or '#': {bad}")
    listed = set(read_deletions(path))
    new = [key for key in dict.fromkeys(keys) if key not in listed]
    text = path.read_text() if path.is_file() else HEADER
    if text and not text.endswith("\n"):
        text += "\n"
    note = " ".join(reason.split()) or "-"
    write_text(path, text + "".join(f"{key}\t{date}\t{note}\n" for key in new))
    return new


def log_path(project: Project) -> Path:
    return project.paths.root / project.configs.serving.log_path


def run(project: Project, *keys: str, reason: str = "") -> dict[str, Any]:
    """Erase ``keys`` from the prediction log (predictions and labels) and from
    reports/explain/, and list them."""
    if not keys:
        raise DataError("name at least one key to forget")
    removed = predictionlog.forget(log_path(project), list(keys))
    reports = [path for key in keys for path in explanation_files(project, key) if path.is_file()]
    for path in reports:
        path.unlink()
    today = datetime.now(UTC).date().isoformat()
    added = add_deletions(deletions_path(project), list(keys), reason, today)
    return {
        "keys": list(keys),
        "listed": added,
        "already_listed": [key for key in keys if key not in added],
        "deleted_predictions": removed["predictions"],
        "deleted_labels": removed["labels"],
        "deleted_reports": len(reports),
        "deletions_file": str(DELETIONS),
    }


def purge(
    project: Project, older_than_days: float | None = None, now: float | None = None
) -> dict[str, Any]:
    """Delete prediction-log rows older than the retention period (``retention_days`` in
    configs/serving.yaml, or ``older_than_days``), and the labels left without one."""
    days = (
        older_than_days if older_than_days is not None else project.configs.serving.retention_days
    )
    if days is None:
        raise ConfigError(
            "no retention period: set retention_days in configs/serving.yaml "
            "(or pass --older-than-days)"
        )
    if days <= 0:
        raise ConfigError(f"the retention period must be positive, got {days} days")
    cutoff = (time.time() if now is None else now) - days * 86400
    removed = predictionlog.purge(log_path(project), cutoff)
    return {
        "retention_days": days,
        "cutoff": datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="seconds"),
        "deleted_predictions": removed["predictions"],
        "deleted_labels": removed["labels"],
    }
