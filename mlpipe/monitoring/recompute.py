"""Features recomputed from logged raw inputs with the domain code the model was trained
with (checklist Mo3), so a change to the shared feature code after training shows up as
skew instead of being recomputed away.

The domain package as it was at the model's ``git.commit`` tag is taken out of git
(``git archive``) into a temporary folder and run there in a subprocess (the package at
that commit, with the options of params.yaml at that commit); when the package is
unchanged since that commit, today's code in this process gives the same answer, faster.
When the commit is unknown or unusable, today's code is used and the check says so."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlpipe.core.domain import Domain, load_domain
from mlpipe.core.io import read_parquet
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.project import Project


@dataclass(frozen=True)
class Recomputed:
    features: pd.DataFrame
    code: str  # which code computed them, for the report


def features_for(
    domain: Domain, context: Any, inputs: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
    """Logged raw request fields -> features, the way serving computes them."""
    rows = inputs.reindex(columns=list(domain.serving_fields)).reset_index(drop=True)
    table, _ = domain.features.compute(domain.enrich(rows, context), names)
    table.index = inputs.index
    return table


def pseudonym_dependent(
    domain: Domain, context: Any, rows: pd.DataFrame, names: list[str]
) -> list[str]:
    """Features whose values change when the identifier and sensitive fields are
    pseudonymised. The prediction log keeps only pseudonyms of those fields, so these
    features cannot be recomputed from it (e.g. aircraft data joined on a tail number)
    and are left out of the skew comparison, named in its report."""
    from mlpipe.core.privacy import pseudonymise

    hidden = [c for c in (*domain.identifiers, *domain.sensitive) if c in domain.serving_fields]
    if not hidden or rows.empty:
        return []
    clear = features_for(domain, context, rows, names)
    masked = features_for(domain, context, pseudonymise(rows, hidden, b"probe"), names)
    return [name for name in names if not clear[name].equals(masked[name])]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None


def _ok(done: subprocess.CompletedProcess[bytes] | None) -> bool:
    return done is not None and done.returncode == 0


def _params_at(root: Path, commit: str) -> dict[str, Any]:
    done = _git(root, "show", f"{commit}:params.yaml")
    try:
        params = yaml.safe_load(done.stdout) if _ok(done) else {}
    except yaml.YAMLError:
        params = {}
    return (params or {}).get("domain") or {}


def _run_at_commit(
    project: Project,
    commit: str,
    package: str,
    options: dict[str, Any],
    inputs: pd.DataFrame,
    names: list[str],
) -> pd.DataFrame | str:
    """The features computed by ``package`` as of ``commit``, or why that failed."""
    root = project.paths.root
    archive = _git(root, "archive", "--format=tar", commit, package)
    if not _ok(archive):
        return f"{package}/ does not exist at commit {commit[:12]}"
    with tempfile.TemporaryDirectory(prefix="mlpipe-code-") as folder:
        code = Path(folder)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(code, filter="data")
        source, target = code / "inputs.pkl", code / "features.pkl"
        inputs.to_pickle(source)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlpipe.monitoring.recompute",
                str(root),
                package,
                json.dumps(options),
                json.dumps(names),
                str(source),
                str(target),
            ],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            last = ((done.stderr or "").strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return f"the code of commit {commit[:12]} failed: {last}"
        return pd.read_pickle(target)


def recompute(
    project: Project, inputs: pd.DataFrame, names: list[str], tags: dict[str, str]
) -> Recomputed:
    """``inputs``' features by the domain code of the model whose tags are ``tags``."""
    root, package = project.paths.root, project.params.domain.package
    commit = tags.get("git.commit") or ""
    dirty = (
        " (trained from a dirty tree: its uncommitted changes are not included)"
        if tags.get("git.dirty") == "True"
        else ""
    )

    def in_process(code: str) -> Recomputed:
        features = features_for(project.domain, project.reference_context, inputs, names)
        return Recomputed(features, code)

    if commit in ("", "None") or not _ok(_git(root, "cat-file", "-e", f"{commit}^{{commit}}")):
        why = f"the model's commit {commit or '(none recorded)'} is not in this repository"
        return in_process(f"today's code of {package}/ ({why})")
    at = f"{package}/ at the model's commit {commit[:12]}"
    if _ok(_git(root, "diff", "--quiet", commit, "--", package)):
        return in_process(f"{at} (unchanged since){dirty}")
    domain = _params_at(root, commit)
    at_commit = _run_at_commit(
        project, commit, domain.get("package", package), domain.get("options") or {}, inputs, names
    )
    if isinstance(at_commit, str):
        return in_process(f"today's code of {package}/ ({at_commit})")
    return Recomputed(at_commit, at + dirty)


def main(argv: list[str]) -> None:
    """Subprocess entry: ROOT PACKAGE OPTIONS NAMES INPUTS.pkl OUT.pkl, run from the folder
    holding the package's old code (first on sys.path)."""
    root, package, options, names, source, target = argv
    domain, _ = load_domain(package, json.loads(options), Path.cwd())
    raw = ProjectPaths(Path(root)).raw
    tables = {
        name: read_parquet(raw / f"{name}.parquet")
        for name in domain.tables
        if name != domain.main_table
    }
    inputs = pd.read_pickle(source)
    features_for(domain, domain.build_context(tables), inputs, json.loads(names)).to_pickle(target)


if __name__ == "__main__":
    main(sys.argv[1:])
