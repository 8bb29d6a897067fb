"""What every stage needs: where files are, the validated params, the domain package."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from mlpipe.config import Params, load_params
from mlpipe.domain import domain_options, load_domain
from mlpipe.io import read_parquet
from mlpipe.paths import ProjectPaths


@dataclass(frozen=True)
class StageContext:
    paths: ProjectPaths
    params: Params

    @classmethod
    def load(cls, root: Path | None = None) -> StageContext:
        paths = ProjectPaths(root.resolve()) if root else ProjectPaths.discover()
        return cls(paths, load_params(paths.params))

    @cached_property
    def domain(self) -> ModuleType:
        return load_domain(self.params.domain.package)

    @cached_property
    def options(self) -> Any:
        return domain_options(self.domain, self.params)

    def raw_tables(self, include_main: bool = True) -> dict[str, pd.DataFrame]:
        """The ingested tables in data/raw/, by name."""
        return {
            name: read_parquet(self.paths.raw / f"{name}.parquet")
            for name in self.domain.TABLES
            if include_main or name != self.domain.MAIN_TABLE
        }

    def reference_context(self) -> Any:
        """The domain's lookups (weather, aircraft, ...) that serving and monitoring join
        onto requests, built from the reference tables only."""
        return self.domain.build_context(self.raw_tables(include_main=False), self.options)
