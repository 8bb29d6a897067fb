"""A project as every step sees it: where its files are, its validated params, its
domain package and its configs. ``Project.load`` checks all of it together, so a setting
naming a column that does not exist fails here, named, before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from mlpipe.core.configs import (
    GateConfig,
    MonitorConfig,
    RegistryConfig,
    ScoreConfig,
    ServingSettings,
    TrackingConfig,
)
from mlpipe.core.domain import Domain, load_domain
from mlpipe.core.errors import ConfigError
from mlpipe.core.io import read_parquet
from mlpipe.core.params import Params, load_params
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.settings import describe, load_settings
from mlpipe.core.timeaxis import TimeAxis

# the column of the feature table that names each row's time window
SPLIT = "split"


@dataclass(frozen=True)
class Configs:
    gate: GateConfig
    monitoring: MonitorConfig
    serving: ServingSettings
    tracking: TrackingConfig
    registry: RegistryConfig
    score: ScoreConfig

    @classmethod
    def load(cls, folder: Path) -> Configs:
        return cls(
            gate=load_settings(GateConfig, folder / "gate.yaml"),
            monitoring=load_settings(MonitorConfig, folder / "monitoring.yaml"),
            serving=load_settings(ServingSettings, folder / "serving.yaml"),
            tracking=load_settings(TrackingConfig, folder / "tracking.yaml"),
            registry=load_settings(RegistryConfig, folder / "registry.yaml"),
            score=load_settings(ScoreConfig, folder / "score.yaml", missing_ok=True),
        )


def _section(schema: type[BaseModel], raw: dict[str, Any], name: str) -> Any:
    try:
        return schema.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"params.yaml is invalid:\n{describe(error, name)}") from None


@dataclass(frozen=True)
class Project:
    paths: ProjectPaths
    params: Params
    domain: Domain
    options: Any
    configs: Configs
    model_params: Any = field(repr=False)
    baseline_params: Any = field(repr=False)

    @classmethod
    def load(cls, root: Path | None = None) -> Project:
        paths = ProjectPaths(root.resolve()) if root else ProjectPaths.discover()
        params = load_params(paths.params)
        domain, options = load_domain(params.domain.package, params.domain.options, paths.root)
        project = cls(
            paths=paths,
            params=params,
            domain=domain,
            options=options,
            configs=Configs.load(paths.configs),
            model_params=_section(domain.model.params, params.model, "model"),
            baseline_params=_section(domain.model.baseline_params, params.baseline, "baseline"),
        )
        project.check_columns()
        return project

    # --- names the whole project agrees on ---------------------------------------------

    @property
    def features(self) -> list[str]:
        return list(self.params.features)

    @property
    def baseline_features(self) -> list[str]:
        return list(self.baseline_params.features)

    @property
    def time_column(self) -> str:
        return self.params.split.column or self.domain.time

    @property
    def axis(self) -> TimeAxis:
        return self.params.split.axis

    @property
    def slices(self) -> list[str]:
        declared = self.params.evaluate.slices
        return list(self.domain.slices if declared is None else declared)

    def table_columns(self) -> list[str]:
        """Columns of the feature table: key, label, time, split, features, slices."""
        d = self.domain
        return list(
            dict.fromkeys([d.key, d.label, self.time_column, SPLIT, *self.features, *self.slices])
        )

    def check_columns(self) -> None:
        """Every setting that names a column must name one that will exist."""
        d = self.domain
        known_features = set(d.features.names())
        raw_columns = {*d.serving_fields, d.time}
        problems = []

        def require(setting: str, names: list[str], allowed: set[str], what: str) -> None:
            unknown = [name for name in names if name not in allowed]
            if unknown:
                problems.append(f"{setting}: {unknown} not {what}")

        require("params.yaml features", self.features, known_features, "registered features")
        leaking = sorted(set(self.features) & d.protected_columns())
        if leaking:
            problems.append(f"params.yaml features: {leaking} are the label, outcomes or ids")
        require(
            "params.yaml baseline.features",
            self.baseline_features,
            set(self.features),
            "in features",
        )
        require(
            "params.yaml split.column",
            [self.time_column],
            raw_columns,
            f"the time column or a serving field of {d.name}",
        )
        require(
            "params.yaml evaluate.slices",
            self.slices,
            {*self.features, *raw_columns},
            "features or serving fields",
        )
        require(
            "configs/gate.yaml inclusion.groups",
            self.configs.gate.inclusion.groups,
            set(self.slices),
            f"slices (evaluate.slices: {self.slices})",
        )
        require(
            "configs/monitoring.yaml quality.slices",
            self.configs.monitoring.quality.slices,
            set(self.slices),
            f"slices (evaluate.slices: {self.slices})",
        )
        if problems:
            raise ConfigError(
                "settings name columns that do not exist:\n" + "\n".join(f"  {p}" for p in problems)
            )

    # --- data every phase reads --------------------------------------------------------

    def raw_tables(self, include_main: bool = True) -> dict[str, pd.DataFrame]:
        """The ingested tables in data/raw/, by name."""
        return {
            name: read_parquet(self.paths.raw / f"{name}.parquet")
            for name in self.domain.tables
            if include_main or name != self.domain.main_table
        }

    @cached_property
    def reference_context(self) -> Any:
        """The domain's lookups that serving and monitoring join onto requests, built from
        the reference tables only."""
        return self.domain.build_context(self.raw_tables(include_main=False))

    def feature_table(self, window: str | None = None) -> pd.DataFrame:
        table = read_parquet(self.paths.features)
        return table if window is None else table.loc[table[SPLIT] == window]
