"""The domain contract: everything the framework needs to know about *your* problem, in
one typed object. Your package (``domain.package`` in params.yaml; the worked example is
``flights``) exposes two names:

- ``Options``: a pydantic model of ``domain.options`` in params.yaml;
- ``domain(options) -> mlpipe.Domain``: the parts below, built from those options.

``load_domain`` imports the package, validates the options and the whole contract, and
fails with one message that lists every missing or mistyped part.

- ``name``: a short name for messages and the model card;
- ``tables``, ``main_table``: the source tables ingest copies to data/raw; rows of
  ``main_table`` are the examples;
- ``load_sources()``, ``source_info()``: every source table as a DataFrame, and where
  they came from (for the provenance record);
- ``prepare(tables)``: cleaning, joins and the label: (one row per example, counts of
  what was dropped);
- ``label``, ``key``, ``time``: columns of the prepared frame: the 0/1 label, a unique
  key (labels arrive by key), the time column windows and ages are measured on;
  ``time_unit`` says what one step of it is called ("month", "year") in reports;
- ``serving_fields``: the raw fields a prediction request carries (``time`` among them);
- ``check_request(record)`` (optional): what the request schema cannot see in one
  validated request record, e.g. fields that must agree, as ``{field: problem}``
  (empty when it is fine); each problem is a 422 naming the field;
- ``build_context(tables)``, ``enrich(rows, context)``: lookups built once from the
  reference tables, and the joins that turn raw rows (training or requests) into
  prepared rows, key included;
- ``features``: the feature registry (``mlpipe.FeatureRegistry``), one function each;
- ``model``: ``build(kinds, params)``, ``build_baseline(kinds, params)`` and the pydantic
  schemas of params.yaml's ``model`` and ``baseline`` sections;
- ``card``: model-card text: intended use and known limits;
- ``outcomes``: columns known only after the fact (the label's sources): never features;
- ``identifiers``: columns that identify a person or thing: never features, pseudonymised
  in logs; ``sensitive``: columns to compare groups on, pseudonymised in logs;
- ``slices``: the default columns quality is reported and gated on.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlpipe.core.errors import ConfigError
from mlpipe.core.features import FeatureRegistry
from mlpipe.core.settings import StrictModel, describe

Tables = dict[str, pd.DataFrame]


class _Contract(StrictModel):
    model_config = ConfigDict(**StrictModel.model_config, arbitrary_types_allowed=True)


class ModelSpec(_Contract):
    """How to build the candidate and the simple baseline it must beat."""

    build: Callable[[Mapping[str, str], Any], Any]
    params: type[BaseModel]
    build_baseline: Callable[[Mapping[str, str], Any], Any]
    baseline_params: type[BaseModel]

    @field_validator("baseline_params")
    @classmethod
    def _baseline_declares_features(cls, schema: type[BaseModel]) -> type[BaseModel]:
        if "features" not in schema.model_fields:
            raise ValueError("the baseline schema needs a `features: list[str]` field")
        return schema


class ModelCard(_Contract):
    intended_use: str = Field(min_length=1)
    limits: list[str] = Field(default_factory=list)


class Domain(_Contract):
    """The contract (see the module docstring for each part)."""

    name: str = Field(min_length=1)
    tables: tuple[str, ...] = Field(min_length=1)
    main_table: str
    load_sources: Callable[[], Tables]
    source_info: Callable[[], dict[str, Any]]
    prepare: Callable[[Tables], tuple[pd.DataFrame, dict[str, int]]]
    label: str
    key: str
    time: str
    time_unit: str = "period"
    serving_fields: tuple[str, ...] = Field(min_length=1)
    check_request: Callable[[dict[str, Any]], dict[str, str]] | None = None
    build_context: Callable[[Tables], Any]
    enrich: Callable[[pd.DataFrame, Any], pd.DataFrame]
    features: FeatureRegistry
    model: ModelSpec
    card: ModelCard
    outcomes: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()

    def protected_columns(self) -> set[str]:
        """Columns no feature may be named after or read: label, outcomes, identifiers."""
        return {self.label, *self.outcomes, *self.identifiers}


def _check_parts(domain: Domain) -> list[str]:
    problems = []
    if domain.main_table not in domain.tables:
        problems.append(f"main_table: {domain.main_table!r} is not one of tables {domain.tables}")
    if domain.time not in domain.serving_fields:
        problems.append(f"time: {domain.time!r} must be one of serving_fields (requests carry it)")
    clash = sorted(domain.protected_columns() & set(domain.features.names()))
    if clash:
        problems.append(f"features: {clash} are the label, outcomes or identifiers")
    return problems


def load_domain(
    package: str, raw_options: dict[str, Any], root: Path | None = None
) -> tuple[Domain, BaseModel]:
    """Import ``package`` (from the project folder ``root`` first), validate its options
    and its whole contract."""
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        raise ConfigError(f"domain.package {package!r} cannot be imported: {error}") from None
    missing = [name for name in ("Options", "domain") if not hasattr(module, name)]
    if missing:
        raise ConfigError(
            f"domain package {package!r} lacks {' and '.join(missing)}: it must expose "
            "`Options` (a pydantic model of domain.options) and `domain(options)` "
            "returning mlpipe.Domain (see mlpipe/core/domain.py)"
        )
    try:
        options = module.Options.model_validate(raw_options)
    except ValidationError as error:
        raise ConfigError(f"params.yaml is invalid:\n{describe(error, 'domain.options')}") from None
    except AttributeError:
        raise ConfigError(f"{package}.Options is not a pydantic model") from None
    try:
        built = module.domain(options)
        domain = built if isinstance(built, Domain) else Domain.model_validate(dict(built))
    except (ValidationError, TypeError) as error:
        details = describe(error) if isinstance(error, ValidationError) else f"  {error}"
        raise ConfigError(
            f"domain package {package!r} does not fulfil the contract "
            f"(mlpipe/core/domain.py):\n{details}"
        ) from None
    problems = _check_parts(domain)
    if problems:
        raise ConfigError(
            f"domain package {package!r} does not fulfil the contract:\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    return domain, options
