"""Run one stage's ``tasks.<module>.run`` from its ``mlpipe stage`` arguments."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mlpipe.context import StageContext
from mlpipe.errors import ConfigError


def run_stage(args: list[str], root: Path | None = None) -> dict[str, Any]:
    """``["validate", "raw"]`` runs ``tasks.validate.run(ctx, "raw")``."""
    if not args:
        raise ConfigError("mlpipe stage needs a stage module name")
    module_name, *stage_args = args
    try:
        module = importlib.import_module(f"tasks.{module_name}")
    except ModuleNotFoundError:
        raise ConfigError(f"no stage module tasks/{module_name}.py") from None
    ctx = StageContext.load(root)
    return module.run(ctx, *stage_args)
