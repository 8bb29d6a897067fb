"""params.yaml as a typed, validated object. A bad key fails here, named, before any work."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlpipe.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainParams(_Strict):
    package: str = Field(
        description="Python package with the data-specific code (the example: flights)"
    )
    options: dict[str, Any] = Field(default_factory=dict)


class IngestParams(_Strict):
    sample_fraction: float = Field(1.0, gt=0, le=1)
    seed: int = 42


class SplitParams(_Strict):
    """Time-ordered splits: inclusive [first, last] ranges of an ordered column (e.g. month)."""

    column: str
    train: tuple[int, int]
    valid: tuple[int, int]
    test: tuple[int, int]
    holdout: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _ordered_and_disjoint(self) -> SplitParams:
        ranges = [("train", self.train), ("valid", self.valid), ("test", self.test)]
        if self.holdout is not None:
            ranges.append(("holdout", self.holdout))
        for name, (first, last) in ranges:
            if first > last:
                raise ValueError(f"{name}: first {first} is after last {last}")
        for (a, (_, a_last)), (b, (b_first, _)) in itertools.pairwise(ranges):
            if b_first <= a_last:
                raise ValueError(f"{b} must start after {a} ends: no split may overlap in time")
        return self

    def named_ranges(self) -> dict[str, tuple[int, int]]:
        named = {"train": self.train, "valid": self.valid, "test": self.test}
        if self.holdout is not None:
            named["holdout"] = self.holdout
        return named


class ModelParams(_Strict):
    """Hyperparameters of the candidate: a histogram gradient-boosted tree classifier."""

    learning_rate: float = Field(0.1, gt=0, le=1)
    max_iter: int = Field(300, ge=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    random_state: int = 42


class BaselineParams(_Strict):
    """The simple model every candidate must beat: logistic regression on a few features."""

    features: list[str] = Field(min_length=1)
    C: float = Field(1.0, gt=0)


class EvaluateParams(_Strict):
    threshold: Literal["f1"] | float = "f1"
    slices: list[str] = Field(default_factory=list)
    min_slice_size: int = Field(200, ge=1)
    importance_sample: int = Field(5000, ge=100)
    importance_repeats: int = Field(3, ge=1)
    seed: int = 42

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: str | float) -> str | float:
        if isinstance(value, float) and not 0 < value < 1:
            raise ValueError("a fixed threshold must be between 0 and 1")
        return value


class StalenessParams(_Strict):
    """The staleness study: train on months up to each of ``train_ends``, score later ones."""

    train_ends: list[int] = Field(min_length=1)
    tolerance: float = Field(0.02, gt=0)


class TuningParams(_Strict):
    """A random search over ``space`` (model parameter -> candidate values)."""

    trials: int = Field(8, ge=1)
    seed: int = 42
    space: dict[str, list[float | int]] = Field(min_length=1)

    @field_validator("space")
    @classmethod
    def _known_parameters(cls, space: dict[str, list[float | int]]) -> dict[str, list]:
        unknown = sorted(set(space) - set(ModelParams.model_fields) - {"random_state"})
        if unknown:
            raise ValueError(f"not model parameters: {unknown}")
        if any(not values for values in space.values()):
            raise ValueError("every parameter needs at least one candidate value")
        return space


class Params(_Strict):
    domain: DomainParams
    ingest: IngestParams = IngestParams()
    split: SplitParams
    features: list[str] = Field(min_length=1)
    model: ModelParams = ModelParams()
    baseline: BaselineParams
    evaluate: EvaluateParams = EvaluateParams()
    staleness: StalenessParams | None = None
    tuning: TuningParams | None = None

    @model_validator(mode="after")
    def _baseline_uses_declared_features(self) -> Params:
        unknown = sorted(set(self.baseline.features) - set(self.features))
        if unknown:
            raise ValueError(f"baseline.features not in features: {unknown}")
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source} is invalid:\n{_describe(error)}") from None


def load_params(path: Path) -> Params:
    if not path.is_file():
        raise ConfigError(f"{path} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_params(raw, source=path.name)


def load_yaml_config(path: Path) -> dict[str, Any]:
    """A non-tunable config file from configs/ (tracking, thresholds...)."""
    if not path.is_file():
        raise ConfigError(f"{path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def set_section_values(path: Path, section: str, values: dict[str, Any]) -> None:
    """Rewrite ``section.key: value`` lines of a YAML file in place, keeping comments and
    layout, then re-validate it (used to apply tuned hyperparameters to params.yaml)."""
    lines = path.read_text().splitlines(keepends=True)
    inside, seen = False, set()
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith((" ", "#")):
            inside = line.split(":", 1)[0].strip() == section
            continue
        stripped = line.lstrip()
        key = stripped.split(":", 1)[0]
        if inside and key in values and ":" in stripped:
            indent = line[: len(line) - len(stripped)]
            comment = ""
            if "#" in stripped:
                comment = "  " + stripped[stripped.index("#") :].rstrip("\n")
            lines[i] = f"{indent}{key}: {values[key]}{comment}\n"
            seen.add(key)
    missing = sorted(set(values) - seen)
    if missing:
        raise ConfigError(f"{path.name}: no {section}.{', '.join(missing)} line to update")
    text = "".join(lines)
    parse_params(yaml.safe_load(text), source=path.name)
    path.write_text(text)
