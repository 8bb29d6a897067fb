"""Synthetic source tables, made in code from a seed (no files, no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .options import Options

TABLES = ("visits", "stores")
REGIONS = ("north", "south", "east")


def stores() -> pd.DataFrame:
    return pd.DataFrame(
        {"store": ["s1", "s2", "s3", "s4"], "store_size": [120.0, 80.0, 200.0, 50.0]}
    )


def visits(options: Options) -> pd.DataFrame:
    rng = np.random.default_rng(options.seed)
    n = options.rows_per_week * options.weeks
    week = np.repeat(np.arange(1, options.weeks + 1), options.rows_per_week)
    region = rng.choice(REGIONS, size=n)
    store = rng.choice(["s1", "s2", "s3", "s4"], size=n)
    minutes = rng.gamma(2.0, 5.0, size=n).round(1)
    pages = rng.poisson(4, size=n)
    if options.drift_from_week is not None:
        later = week >= options.drift_from_week
        minutes = np.where(later, minutes * 3 + 20, minutes)
    logit = -1.5 + 0.08 * minutes + 0.15 * pages + np.where(region == "north", 0.8, 0.0)
    bought = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "visit_id": np.arange(n),
            "week": week,
            "customer_id": rng.integers(1000, 1400, size=n).astype(str),
            "age_band": rng.choice(["18-34", "35-54", "55+"], size=n),
            "region": region,
            "store": store,
            "minutes": minutes,
            "pages": pages.astype(float),
            "spent": np.where(bought, rng.gamma(2.0, 20.0, size=n).round(2), np.nan),
        }
    )


def load_sources(options: Options) -> dict[str, pd.DataFrame]:
    return {"visits": visits(options), "stores": stores()}


def source_info(options: Options) -> dict[str, object]:
    return {"source": "synthetic", "package_version": "test", "seed": options.seed}
