"""Load the data-specific package named by ``domain.package`` in params.yaml."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from mlpipe.config import Params
from mlpipe.errors import ConfigError

REQUIRED = (
    "TABLES",
    "MAIN_TABLE",
    "LABEL",
    "KEY",
    "Options",
    "features",
    "load_sources",
    "source_info",
    "prepare",
)


def load_domain(package: str) -> ModuleType:
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        raise ConfigError(f"domain.package {package!r} cannot be imported: {error}") from None
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise ConfigError(f"domain package {package!r} lacks {', '.join(missing)}")
    return module


def domain_options(module: ModuleType, params: Params) -> Any:
    """``domain.options`` validated by the domain's own Options model."""
    options_model: type[BaseModel] = module.Options
    try:
        return options_model.model_validate(params.domain.options)
    except ValidationError as error:
        details = "; ".join(
            f"domain.options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"params.yaml is invalid: {details}") from None
