"""Feature registry: a feature is one function (frame in, column out) plus one line in
params.yaml. Training and serving both compute features through ``FeatureRegistry.compute``,
so the two can never drift apart."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from mlpipe.core.errors import ConfigError

FeatureKind = Literal["numeric", "categorical"]
FeatureFn = Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    compute: FeatureFn
    doc: str


@dataclass(frozen=True)
class FeatureCost:
    """What one feature costs to compute (checklist D3)."""

    seconds: float
    bytes: int


class FeatureRegistry:
    def __init__(self) -> None:
        self._features: dict[str, Feature] = {}

    def _register(self, kind: FeatureKind) -> Callable[[FeatureFn], FeatureFn]:
        def decorator(fn: FeatureFn) -> FeatureFn:
            if fn.__name__ in self._features:
                raise ValueError(f"feature {fn.__name__!r} is registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
            self._features[fn.__name__] = Feature(fn.__name__, kind, fn, doc)
            return fn

        return decorator

    def numeric(self, fn: FeatureFn) -> FeatureFn:
        return self._register("numeric")(fn)

    def categorical(self, fn: FeatureFn) -> FeatureFn:
        return self._register("categorical")(fn)

    def names(self) -> list[str]:
        return list(self._features)

    def get(self, name: str) -> Feature:
        try:
            return self._features[name]
        except KeyError:
            known = ", ".join(sorted(self._features))
            raise ConfigError(f"unknown feature {name!r} in params.yaml; known: {known}") from None

    def kinds(self, names: list[str]) -> dict[str, FeatureKind]:
        return {name: self.get(name).kind for name in names}

    def compute(
        self, frame: pd.DataFrame, names: list[str]
    ) -> tuple[pd.DataFrame, dict[str, FeatureCost]]:
        """Compute the named features, each typed by its kind, and what each one cost."""
        columns: dict[str, pd.Series] = {}
        costs: dict[str, FeatureCost] = {}
        for name in names:
            feature = self.get(name)
            start = time.perf_counter()
            values = feature.compute(frame)
            if feature.kind == "numeric":
                values = pd.to_numeric(values, errors="coerce").astype("float64")
            else:
                values = values.astype("string").astype(object).where(values.notna(), None)
            elapsed = time.perf_counter() - start
            columns[name] = pd.Series(values.to_numpy(), index=frame.index, name=name)
            costs[name] = FeatureCost(elapsed, int(columns[name].memory_usage(deep=True)))
        return pd.DataFrame(columns, index=frame.index), costs
