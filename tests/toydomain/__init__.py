"""A tiny synthetic domain for the framework's own tests: shop visits over 20 weeks, will
the visitor buy? Deterministic data made in code, every part of the contract exercised
(a reference table joined at serving time, a built key, an identifier, a sensitive
column, slices), and nothing of the worked example."""

from __future__ import annotations

from functools import partial

from mlpipe import Domain, ModelCard, ModelSpec

from . import prepare, source
from .features import registry
from .model import BaselineParams, ModelParams, build_baseline, build_model
from .options import Options

__all__ = ["Options", "domain"]


def domain(options: Options) -> Domain:
    return Domain(
        name="toy shop",
        tables=source.TABLES,
        main_table="visits",
        load_sources=partial(source.load_sources, options),
        source_info=partial(source.source_info, options),
        prepare=prepare.prepare,
        label="bought",
        key="visit_key",
        time="week",
        time_unit="week",
        serving_fields=prepare.SERVING_FIELDS,
        build_context=prepare.build_context,
        enrich=prepare.enrich,
        features=registry,
        model=ModelSpec(
            build=build_model,
            params=ModelParams,
            build_baseline=build_baseline,
            baseline_params=BaselineParams,
        ),
        card=ModelCard(intended_use="Tests of the framework only.", limits=["Synthetic data."]),
        outcomes=("spent",),
        identifiers=("customer_id",),
        sensitive=("age_band",),
        slices=("region", "week"),
    )
