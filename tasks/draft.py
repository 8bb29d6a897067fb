"""draft: write expectation suites (configs/expectations/) from the project's data, for
review and commit. ``raw`` drafts one suite per source table after ingesting it (and,
redrafting with ``force``, removes the suites of tables the domain no longer has);
``features`` one for the feature table after running the stages up to featurize (so the
raw suites must exist and pass). Existing suites are kept unless ``force``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlpipe.core.dag import plan, reproduce
from mlpipe.core.errors import ConfigError
from mlpipe.core.io import write_text
from mlpipe.core.project import SPLIT, Project
from mlpipe.training.expectations import Roles, draft_suite, suite_text
from tasks import run_step

DATASETS = ("raw", "features")


def suite_paths(project: Project, dataset: str) -> dict[str, Path]:
    """Where the suites of ``dataset`` live, by table name (what tasks/validate reads)."""
    folder = project.paths.expectations
    if dataset == "raw":
        return {name: folder / "raw" / f"{name}.json" for name in project.domain.tables}
    return {"features": folder / "features.json"}


def run_stages_until(project: Project, step: str) -> None:
    """Bring the DVC pipeline up to the stage running ``mlpipe stage STEP`` (unchanged
    stages are skipped, dvc.lock is kept up to date)."""
    root = project.paths.root
    for spec in plan(root):
        reproduce(root, spec.name, lambda args: run_step(args, root))
        if (spec.in_process_args or [""])[0] == step:
            return
    raise ConfigError(f"dvc.yaml has no stage running `mlpipe stage {step}`")


def _training_rows(project: Project, table: pd.DataFrame) -> pd.DataFrame:
    axis, column = project.axis, project.time_column
    window = project.params.split.train
    return table.loc[window.contains(axis.positions(table[column]), axis).to_numpy()]


def draft(project: Project, dataset: str) -> dict[str, dict[str, Any]]:
    """The drafted suites of ``dataset``, by table name (reads data, writes nothing)."""
    domain = project.domain
    if dataset == "raw":
        suites = {}
        for name, table in project.raw_tables().items():
            main = name == domain.main_table
            roles = Roles(key=domain.key if main else None, time=domain.time if main else None)
            train = _training_rows(project, table) if main else table
            suites[name] = draft_suite(name, table, train, roles)
        return suites
    table = project.feature_table()
    kinds = domain.features.kinds(project.features)
    roles = Roles(
        key=domain.key,
        label=domain.label,
        time=project.time_column,
        split=SPLIT,
        windows=tuple(project.params.split.windows()),
        categorical=[name for name, kind in kinds.items() if kind == "categorical"],
    )
    train = table.loc[table[SPLIT] == "train"]
    return {"features": draft_suite("features", table, train, roles)}


def run(project: Project, dataset: str, force: bool = False) -> dict[str, Any]:
    if dataset not in DATASETS:
        raise ConfigError(f"draft takes one of {DATASETS}, not {dataset!r}")
    paths = suite_paths(project, dataset)
    stale = stale_suites(project) if dataset == "raw" else []
    existing = [str(path) for path in [*paths.values(), *stale] if path.exists()]
    if existing and not force:
        raise ConfigError(
            f"expectation suites exist: {', '.join(existing)}; review them, or pass --force "
            "to overwrite them with a new draft"
        )
    run_stages_until(project, "ingest" if dataset == "raw" else "featurize")
    suites = draft(project, dataset)
    for name, suite in suites.items():
        write_text(paths[name], suite_text(suite))
    for path in stale:
        path.unlink()
    relative = project.paths.root
    return {
        "written": [str(paths[name].relative_to(relative)) for name in suites],
        "removed": [str(path.relative_to(relative)) for path in stale],
        "expectations": sum(len(suite["expectations"]) for suite in suites.values()),
    }


def stale_suites(project: Project) -> list[Path]:
    """Raw suites of tables the domain no longer has (a starter's example table)."""
    kept = set(suite_paths(project, "raw").values())
    folder = project.paths.expectations / "raw"
    return [path for path in sorted(folder.glob("*.json")) if path not in kept]


def require_suites(project: Project, dataset: str) -> None:
    """A missing suite is a setup step not yet done: say which command drafts it."""
    missing = [str(p) for p in suite_paths(project, dataset).values() if not p.is_file()]
    if missing:
        raise ConfigError(
            f"no expectation suite {', '.join(missing)}: draft it from your data with "
            f"`mlpipe expectations draft {dataset}`, review it, and commit it"
        )
