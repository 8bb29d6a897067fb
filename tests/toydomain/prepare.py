"""Label from the outcome (``spent``), the store join shared by training and serving."""

from __future__ import annotations

import pandas as pd

SERVING_FIELDS = (
    "visit_id",
    "week",
    "customer_id",
    "age_band",
    "region",
    "store",
    "minutes",
    "pages",
)


def build_context(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return tables["stores"].drop_duplicates("store")


def enrich(rows: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    frame = rows.assign(visit_key="v" + rows["visit_id"].astype(str))
    return frame.merge(context, on="store", how="left").drop(columns=["spent"], errors="ignore")


def prepare(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, int]]:
    visits = tables["visits"]
    labelled = visits.assign(bought=visits["spent"].notna().astype("int8"))
    frame = enrich(labelled, build_context(tables))
    return frame, {"visits": len(visits), "kept": len(frame)}
