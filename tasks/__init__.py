"""Pipeline steps, one module per step: each reads its inputs, calls the library
(``mlpipe``), and writes its outputs, in one ``run(project, *args)``.

The stages of dvc.yaml (ingest, validate, featurize, train, evaluate, staleness) run as
``mlpipe stage NAME``, from `dvc repro` or the training flow; the release steps after
the DAG (gate, register) and the steps of the other flows (monitor, review) depend on the
registry or the prediction log, not only on files, so DVC does not track them."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mlpipe.core.errors import ConfigError


def run_step(args: list[str], root: Path | None = None) -> dict[str, Any]:
    """``["validate", "raw"]`` runs ``tasks.validate.run(project, "raw")``."""
    from mlpipe.core.project import Project

    if not args:
        raise ConfigError("mlpipe stage needs a step name (a module of tasks/)")
    name, *step_args = args
    try:
        module = importlib.import_module(f"tasks.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"tasks.{name}":
            raise
        raise ConfigError(f"no step tasks/{name}.py") from None
    if not hasattr(module, "run"):
        raise ConfigError(f"tasks/{name}.py is not a step (it has no run())")
    return module.run(Project.load(root), *step_args)
