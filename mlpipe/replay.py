"""Replay held-out months through a running service, then post their labels: production
traffic for demos, tests and monitoring (labels arrive after the predictions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.context import StageContext
from mlpipe.errors import DataError, PipelineError


def replay_frames(
    ctx: StageContext, months: tuple[int, int] | None, limit: int | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Request records (serving fields only) and the labels that will arrive later."""
    domain, split = ctx.domain, ctx.params.split
    window = months or split.holdout
    if window is None:
        raise DataError("no months to replay: set split.holdout in params.yaml or --months")
    tables = ctx.raw_tables()
    main = tables[domain.MAIN_TABLE]
    chosen = main.loc[main[split.column].between(*window)]
    if limit:
        chosen = chosen.head(limit)
    if chosen.empty:
        raise DataError(f"no rows with {split.column} in {window} to replay")
    labelled, _ = domain.prepare({**tables, domain.MAIN_TABLE: chosen}, ctx.options)
    labels = dict(zip(labelled[domain.KEY], labelled[domain.LABEL].astype(int), strict=True))
    records = chosen[list(domain.SERVING_FIELDS)].replace({np.nan: None})
    return records, labels


def replay(
    ctx: StageContext,
    url: str,
    months: tuple[int, int] | None = None,
    limit: int | None = None,
    batch: int = 50,
    send_labels: bool = True,
    api_key: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    import httpx

    records, labels = replay_frames(ctx, months, limit)
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
