"""What every stage needs: where files are, the validated params, the domain package."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from mlpipe.config import Params, load_params
from mlpipe.domain import domain_options, load_domain
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
