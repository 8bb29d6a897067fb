"""What monitoring compares against over time, as JSON lines under reports/monitoring/:
the serving latency of each monitoring run, and the fit time and peak memory of each
training run (appended by the train stage, so a regression is seen by the next check)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlpipe.core.io import to_jsonable
from mlpipe.core.paths import ProjectPaths


def folder(paths: ProjectPaths) -> Path:
    return paths.reports / "monitoring"


def latency_history(paths: ProjectPaths) -> Path:
    return folder(paths) / "latency_history.jsonl"


def training_history(paths: ProjectPaths) -> Path:
    return folder(paths) / "training_history.jsonl"


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(to_jsonable(record), default=str, sort_keys=True) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Every record, oldest first; a line that is not a JSON object is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
