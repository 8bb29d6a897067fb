"""Loading settings: YAML files into strict pydantic models, with one way of saying what
is wrong (every bad key named, file first), so all configs fail the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlpipe.core.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo never silently becomes a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``  key.path: reason``."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "") or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def parse_model(model: type[Model], raw: Any, source: str, prefix: str = "") -> Model:
    """``raw`` validated by ``model``; a ConfigError naming every bad key otherwise."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source} is invalid:\n{describe(error, prefix)}") from None


def load_yaml(path: Path, missing_ok: bool = False) -> dict[str, Any]:
    """A YAML mapping from a file; a missing, broken or non-mapping file is a ConfigError."""
    if not path.is_file():
        if missing_ok:
            return {}
        raise ConfigError(f"{path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_settings(model: type[Model], path: Path, missing_ok: bool = False) -> Model:
    """A config file of configs/ as its typed model."""
    return parse_model(model, load_yaml(path, missing_ok), path.name)
