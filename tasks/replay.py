"""replay: send a time window (default: the holdout) through a running service, then post
its labels: production traffic for demos, tests and monitoring (labels arrive later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.errors import ConfigError, DataError, PipelineError
from mlpipe.core.params import Window
from mlpipe.core.project import Project


def parse_window(text: str | None) -> Window | None:
    """``FIRST..LAST`` (numbers or dates) as a Window; None for the default."""
    if not text:
        return None
    first, sep, last = text.partition("..")
    if not sep or not first or not last:
        raise ConfigError(f"--window {text!r}: expected FIRST..LAST, e.g. 11..12")

    def value(part: str) -> Any:
        try:
            return float(part) if "." in part else int(part)
        except ValueError:
            return part

    return Window(first=value(first), last=value(last))


def replay_frames(
    project: Project, window: Window | None, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Request records (serving fields only) and the labels that will arrive later."""
    domain = project.domain
    window = window or project.params.split.holdout
    if window is None:
        raise DataError("nothing to replay: set split.holdout in params.yaml or pass --window")
    tables = project.raw_tables()
    main = tables[domain.main_table]
    positions = project.axis.positions(main[project.time_column])
    chosen = main.loc[window.contains(positions, project.axis).to_numpy()]
    if limit:
        chosen = chosen.head(limit)
    if chosen.empty:
        raise DataError(f"no rows with {project.time_column} in {window} to replay")
    labelled, _ = domain.prepare({**tables, domain.main_table: chosen})
    labels = dict(zip(labelled[domain.key], labelled[domain.label].astype(int), strict=True))
    records = chosen[list(domain.serving_fields)].replace({np.nan: None})
    return records, labels


def replay(
    project: Project,
    url: str,
    window: Window | None = None,
    limit: int | None = None,
    batch: int = 50,
    send_labels: bool = True,
    api_key: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    import httpx

    records, labels = replay_frames(project, window, limit)
    headers = {"X-API-Key": api_key} if api_key else {}
    sent = errors = 0
    rows = records.to_dict(orient="records")
    try:
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                response = client.post("/predict", json={"records": chunk})
                if response.status_code != 200:
                    errors += 1
                sent += len(chunk)
                if progress:
                    progress(len(chunk))
            if send_labels:
                items = list(labels.items())
                for start in range(0, len(items), 1000):
                    client.post(
                        "/labels", json=dict(items[start : start + 1000])
                    ).raise_for_status()
    except httpx.HTTPError as error:
        raise PipelineError(f"the service at {url} did not answer: {error}") from None
    return {"records": sent, "failed_requests": errors, "labels": len(labels) if send_labels else 0}
