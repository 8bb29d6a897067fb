"""params.yaml as a typed, validated object. A bad key fails here, named, before any work.

The sections about the model itself (``model``, ``baseline``) are validated by the schemas
the domain package declares (its model spec); everything else is generic."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from mlpipe.core.errors import ConfigError
from mlpipe.core.settings import StrictModel, load_yaml, parse_model
from mlpipe.core.timeaxis import TimeAxis, TimeValue

WINDOW_NAMES = ("train", "valid", "test", "holdout")


class DomainParams(StrictModel):
    package: str = Field(description="the Python package with your problem (the example: flights)")
    options: dict[str, Any] = Field(default_factory=dict)


class IngestParams(StrictModel):
    sample_fraction: float = Field(1.0, gt=0, le=1)
    seed: int = 42


class Window(StrictModel):
    """A time window: an inclusive range (``[first, last]`` or ``{from:, to:}``) or a list
    of time values (``{values: [...]}``)."""

    first: TimeValue | None = None
    last: TimeValue | None = None
    values: list[TimeValue] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        values = raw if isinstance(raw, list | tuple) else []
        if isinstance(raw, dict):
            values = [v for v in raw.values() if not isinstance(v, list)] + raw.get("values", [])
        if any(isinstance(v, date) for v in values):
            raise ValueError(
                "write dates in quotes, e.g. '2013-01-01': YAML reads a bare date as a "
                "date object, which DVC cannot read from params.yaml"
            )
        if isinstance(raw, list | tuple):
            if len(raw) != 2:
                raise ValueError("a range is [first, last]; use {values: [...]} for a list")
            return {"first": raw[0], "last": raw[1]}
        if isinstance(raw, dict) and ("from" in raw or "to" in raw):
            rest = {k: v for k, v in raw.items() if k not in ("from", "to")}
            return {"first": raw.get("from"), "last": raw.get("to"), **rest}
        return raw

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        ranged = self.first is not None and self.last is not None
        if ranged == bool(self.values):
            raise ValueError("give either a range [first, last] or {values: [...]}, not both")
        return self

    def bounds(self, axis: TimeAxis) -> tuple[float, float]:
        points = (
            [axis.point(v) for v in self.values]
            if self.values
            else [
                axis.point(self.first),  # type: ignore[arg-type]
                axis.point(self.last),  # type: ignore[arg-type]
            ]
        )
        return min(points), max(points)

    def contains(self, positions: Any, axis: TimeAxis) -> Any:
        """Boolean mask of the positions (see TimeAxis.positions) inside this window."""
        if self.values:
            return positions.isin([axis.point(v) for v in self.values])
        first, last = self.bounds(axis)
        return (positions >= first) & (positions <= last)


class SplitParams(StrictModel):
    """Windows of time, never random rows. ``valid`` (threshold choice) and ``holdout``
    (kept for serving and monitoring) are optional."""

    column: str | None = Field(None, description="default: the domain's time column")
    period: str | None = Field(None, description="pandas frequency for a date-like column")
    train: Window
    valid: Window | None = None
    test: Window
    holdout: Window | None = None

    @property
    def axis(self) -> TimeAxis:
        return TimeAxis(self.period)

    def windows(self) -> dict[str, Window]:
        named = {name: getattr(self, name) for name in WINDOW_NAMES}
        return {name: window for name, window in named.items() if window is not None}

    @model_validator(mode="after")
    def _ordered_and_disjoint(self) -> SplitParams:
        try:
            bounds = [(name, w.bounds(self.axis)) for name, w in self.windows().items()]
        except (ValueError, TypeError) as error:
            raise ValueError(f"a window value is not a time on this axis: {error}") from None
        for (a, (_, a_last)), (b, (b_first, _)) in itertools.pairwise(bounds):
            if b_first <= a_last:
                raise ValueError(f"{b} must start after {a} ends: no split may overlap in time")
        return self


class EvaluateParams(StrictModel):
    threshold: Literal["f1"] | float = "f1"
    slices: list[str] | None = Field(None, description="default: the domain's slices")
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


class StalenessParams(StrictModel):
    """The staleness study: train up to each of ``train_ends``, score every later period."""

    train_ends: list[TimeValue] = Field(min_length=1)
    tolerance: float = Field(0.02, gt=0)


class TuningParams(StrictModel):
    """A random search over ``space`` (model parameter -> candidate values)."""

    trials: int = Field(8, ge=1)
    seed: int = 42
    space: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("space")
    @classmethod
    def _values(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if any(not values for values in space.values()):
            raise ValueError("every parameter needs at least one candidate value")
        return space

    def check_space(self, schema: type[BaseModel], base: dict[str, Any]) -> None:
        """Every searched name is a parameter of the domain's model schema and every
        candidate value is valid for it: a typo fails before any trial runs."""
        known = set(schema.model_fields)
        problems = []
        unknown = sorted(set(self.space) - known)
        if unknown:
            problems.append(f"  tuning.space: {unknown} are not model parameters {sorted(known)}")
        for name in sorted(set(self.space) & known):
            for value in self.space[name]:
                try:
                    schema.model_validate({**base, name: value})
                except ValidationError as error:
                    reason = "; ".join(item["msg"] for item in error.errors())
                    problems.append(f"  tuning.space.{name}: {value!r} is invalid: {reason}")
        if problems:
            raise ConfigError("params.yaml is invalid:\n" + "\n".join(problems))


class CostLimit(StrictModel):
    """What computing one feature may cost (checklist D3)."""

    seconds_per_100k_rows: float | None = Field(None, gt=0)
    bytes_per_row: float | None = Field(None, gt=0)


class FeatureBudget(CostLimit):
    """The default limit for every feature, and per-feature overrides (checked at featurize)."""

    seconds_per_100k_rows: float | None = Field(2.0, gt=0)
    bytes_per_row: float | None = Field(128, gt=0)
    overrides: dict[str, CostLimit] = Field(default_factory=dict)

    def limit(self, feature: str) -> CostLimit:
        override = self.overrides.get(feature, CostLimit())
        return CostLimit(
            seconds_per_100k_rows=override.seconds_per_100k_rows or self.seconds_per_100k_rows,
            bytes_per_row=override.bytes_per_row or self.bytes_per_row,
        )


class Params(StrictModel):
    domain: DomainParams
    ingest: IngestParams = IngestParams()
    split: SplitParams
    features: list[str] = Field(min_length=1)
    model: dict[str, Any] = Field(default_factory=dict, description="the domain's model schema")
    baseline: dict[str, Any] = Field(default_factory=dict, description="the baseline schema")
    evaluate: EvaluateParams = EvaluateParams()
    staleness: StalenessParams | None = None
    tuning: TuningParams | None = None
    feature_budget: FeatureBudget = FeatureBudget()

    @model_validator(mode="after")
    def _valid_window_for_f1(self) -> Params:
        if self.evaluate.threshold == "f1" and self.split.valid is None:
            raise ValueError(
                "evaluate.threshold 'f1' is chosen on split.valid: add a valid window "
                "or set a fixed threshold"
            )
        if len(set(self.features)) != len(self.features):
            raise ValueError("features: a feature is listed twice")
        stray = sorted(set(self.feature_budget.overrides) - set(self.features))
        if stray:
            raise ValueError(f"feature_budget.overrides: {stray} are not in features")
        return self


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    return parse_model(Params, raw, source)


def load_params(path: Path) -> Params:
    return parse_params(load_yaml(path), source=path.name)


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
