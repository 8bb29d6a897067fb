"""The table starter: bring your own table (one CSV or Parquet file) with zero code.

Everything about the table is in params.yaml (``domain.options``: the file, the label
rule, the key, the time column, the feature columns and their kinds, the slices); custom
features are functions in ``features.py``. The framework reads this package through the
two names below; the contract is documented in mlpipe/core/domain.py."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from mlpipe import Domain, FeatureRegistry, ModelCard, ModelSpec

from . import prepare as preparation
from . import source
from .features import registry as custom
from .model import BaselineParams, ModelParams, build_baseline, build_model
from .options import Options

__all__ = ["Options", "domain"]


def _column(name: str, doc: str) -> Callable[[pd.DataFrame], pd.Series]:
    def feature(frame: pd.DataFrame) -> pd.Series:
        return frame[name]

    feature.__name__ = name
    feature.__doc__ = doc
    return feature


def feature_registry(options: Options) -> FeatureRegistry:
    """The declared columns as features, then the custom ones of ``features.py``."""
    registry = FeatureRegistry()
    for name in options.numeric:
        registry.numeric(_column(name, f"The table's column {name!r}."))
    for name in options.categorical:
        registry.categorical(_column(name, f"The table's column {name!r}."))
    for name in custom.names():
        feature = custom.get(name)
        getattr(registry, feature.kind)(feature.compute)
    return registry


def domain(options: Options) -> Domain:
    """Your table, for the framework."""
    table = options.table_name
    return Domain(
        name=table,
        tables=(table,),
        main_table=table,
        load_sources=partial(source.load_sources, options),
        source_info=partial(source.source_info, options),
        prepare=partial(preparation.prepare, options=options),
        label=options.label.name,
        key=preparation.key_column(options),
        time=options.time,
        time_unit=options.time_unit,
        serving_fields=options.serving_fields(),
        build_context=preparation.build_context,
        enrich=partial(preparation.enrich, options=options),
        features=feature_registry(options),
        model=ModelSpec(
            build=build_model,
            params=ModelParams,
            build_baseline=build_baseline,
            baseline_params=BaselineParams,
        ),
        card=ModelCard(intended_use=options.intended_use, limits=options.limits),
        outcomes=(options.label.column, *options.outcomes),
        identifiers=tuple(options.identifiers),
        sensitive=tuple(options.sensitive),
        slices=tuple(options.slices),
    )
