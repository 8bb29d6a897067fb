"""Where things live in a project. One place, so every stage agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlpipe.core.errors import ConfigError


def find_root(start: Path | None = None) -> Path:
    """The project root: $MLPIPE_ROOT, else the nearest folder upwards holding dvc.yaml."""
    env = os.environ.get("MLPIPE_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise ConfigError(f"no dvc.yaml found in {here} or any parent: run mlpipe inside the project")


@dataclass(frozen=True)
class ProjectPaths:
    root: Path

    @classmethod
    def discover(cls, start: Path | None = None) -> ProjectPaths:
        return cls(find_root(start))

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def expectations(self) -> Path:
        return self.configs / "expectations"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def raw_provenance(self) -> Path:
        return self.root / "data" / "raw.provenance.json"

    @property
    def features(self) -> Path:
        return self.root / "data" / "features" / "features.parquet"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def state(self) -> Path:
        """Run files of this checkout (locks, the temporary server's log, the registration
        record): never committed."""
        return self.root / ".mlpipe"
