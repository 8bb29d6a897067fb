"""Test helpers: a throw-away copy of the project, and running its CLI for real."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin

from mlpipe.core.dag import plan, reproduce
from mlpipe.core.io import file_sha256, read_json, write_json
from tasks import run_step
from tests.conftest import WIDE

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOY = Path(__file__).resolve().parent / "toydomain"
# the example package at the root (whatever it is called), left out of library projects
EXAMPLE = yaml.safe_load((REPO / "params.yaml").read_text())["domain"]["package"]
# what a project's own problem brings: never copied from the root into a toy project
PROBLEM_FILES = ("params.yaml", "configs/expectations/", f"{EXAMPLE}/", "tests/", "benchmarks/")
# the copier template around this repository: not part of a project
TEMPLATE_FILES = ("template/", "starters/", "copier.yml")
# what a pipeline run writes (DVC or the stores own it): never a project's own file
OUTPUTS = ("data/", "models/", "reports/", "dvc.lock")


def tracked_files(root: Path) -> list[Path]:
    """The project's own files: tracked ones, plus new ones not yet committed (never
    pipeline outputs, which DVC or the stores own)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        Path(name)
        for name in listed.split("\0")
        if name and (root / name).is_file() and not name.startswith(OUTPUTS)
    ]


def update_params(root: Path, overrides: dict) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(params.get(section), dict):
            params[section].update(values)
        else:
            params[section] = values
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_tree(source: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or "__pycache__" in relative.parts or str(relative).startswith(skip):
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def git_commit(root: Path, message: str = "test project") -> None:
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


def copy_repo(
    dest: Path, skip: tuple[str, ...] = ("tests/", "benchmarks/", *TEMPLATE_FILES)
) -> Path:
    """This repository's own files (no outputs, no stores) copied into ``dest``."""
    for relative in tracked_files(REPO):
        if str(relative).startswith(skip):
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target)
    return dest


def make_project(dest: Path, overrides: dict | None = None, commit: bool = True) -> Path:
    """A throw-away project on the toy domain (tests/toydomain): the framework's files of
    this repository (no example package, no outputs, no stores) plus the toy package, its
    params.yaml, configs and expectation suites, as a git repository."""
    copy_repo(dest, skip=PROBLEM_FILES + TEMPLATE_FILES)
    copy_tree(TOY, dest / "toydomain", skip=("project",))
    copy_tree(TOY / "project", dest)
    if overrides:
        update_params(dest, overrides)
    if commit:
        git_commit(dest)
    return dest


def copy_project(source: Path, dest: Path) -> Path:
    """A project with everything in it (git, DVC cache, outputs, stores; no bytecode)
    copied to ``dest``: a quick stand-in for running its pipeline again. MLflow records
    absolute artifact locations; they are moved to the copy's, so nothing the copy reads
    or writes touches the source (an absolute path left anywhere else is an error)."""
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    old, new = f"{source}/".encode(), f"{dest}/".encode()
    for path in dest.rglob("*"):
        if ".git" in path.relative_to(dest).parts or not path.is_file():
            continue
        content = path.read_bytes()
        if old not in content:
            continue
        if content.startswith(b"SQLite format 3\0"):
            _rebase_sqlite(path, old.decode(), new.decode())
        elif b"\0" not in content:
            path.write_bytes(content.replace(old, new))
        else:
            raise AssertionError(f"{path} holds the path of {source}: cannot move it")
    return dest


def _rebase_sqlite(path: Path, old: str, new: str) -> None:
    """Every text cell of a SQLite database that names ``old`` names ``new`` instead."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                for column in connection.execute(f'PRAGMA table_info("{table}")').fetchall():
                    cell = f'"{column[1]}"'
                    connection.execute(
                        f'UPDATE "{table}" SET {cell} = replace({cell}, ?, ?) '
                        f"WHERE typeof({cell}) = 'text' AND instr({cell}, ?) > 0",
                        (old, new, old),
                    )
    finally:
        connection.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(
    cmd: list[str],
    url: str,
    env: dict[str, str],
    cwd: Path | None = None,
    seconds: float = 120,
    healthy: bool = True,
) -> subprocess.Popen:
    """Start a server in its own process group; return once ``url`` answers (with 200
    when ``healthy``, with anything otherwise)."""
    import httpx

    process = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(cmd)} exited with {process.returncode}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200 or not healthy:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop_service(process)
    raise RuntimeError(f"{' '.join(cmd)} did not answer at {url} within {seconds} s")


def stop_service(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def project_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPIPE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(root / ".prefect")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["COLUMNS"] = WIDE
    return env


def run_cli(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a project command (``mlpipe ...``, ``dvc ...``) in ``root``."""
    return subprocess.run(
        list(args),
        cwd=root,
        env=project_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_pipeline_apart(root: Path, release: bool = False) -> subprocess.CompletedProcess[str]:
    """``run_pipeline`` in a fresh Python process (the project's own domain package is
    imported anew, the libraries once): faster than a flow when a test changes the package."""
    code = (
        "import sys; from pathlib import Path; from tests.helpers import run_pipeline; "
        f"run_pipeline(Path(sys.argv[1]), release={release})"
    )
    env = {**project_env(root), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


class InvertOnSlice(ClassifierMixin, BaseEstimator):
    """A deliberately broken model: the wrapped model's answers, inverted on one slice."""

    def __init__(self, model=None, column: str = "", value: str = "") -> None:
        self.model, self.column, self.value = model, column, value

    def fit(self, frame, y):
        return self

    @property
    def classes_(self):
        return self.model.classes_

    def predict_proba(self, frame):
        proba = self.model.predict_proba(frame).copy()
        mask = (frame[self.column] == self.value).to_numpy()
        proba[mask] = proba[mask][:, ::-1]
        return proba

    def predict(self, frame):
        return self.predict_proba(frame).argmax(axis=1)


def run_pipeline(root: Path, release: bool = False) -> None:
    """The DAG in this process, committed to dvc.lock (the flow without Prefect); with
    ``release``, the gate and registration after it."""
    for spec in plan(root):
        reproduce(root, spec.name, lambda args: run_step(args, root))
    if release:
        run_step(["gate"], root)
        run_step(["register"], root)


def register_at_once(envs: dict[Path, dict[str, str]], timeout: float = 600) -> None:
    """`mlpipe stage register` in each project (its environment given), all started
    together, as two machines or terminals would; every one must succeed."""
    processes = [
        subprocess.Popen(
            ["mlpipe", "stage", "register"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root, env in envs.items()
    ]
    outputs = [process.communicate(timeout=timeout) for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes), outputs


def replace_model(root: Path, model) -> None:
    """Swap in another candidate and re-evaluate it, as a retraining would."""
    joblib.dump(model, root / "models" / "model.joblib")
    meta = read_json(root / "models" / "model.json")
    meta["sha256"]["model"] = file_sha256(root / "models" / "model.joblib")
    write_json(root / "models" / "model.json", meta)
    run_step(["evaluate"], root)


def train(root: Path, shuffle: bool = False, **model_params):
    """The project's model spec fitted on its training window (optionally on shuffled
    labels, or with other hyperparameters): a candidate made by hand."""
    from mlpipe.core.project import Project
    from mlpipe.training.fit import fit

    project = Project.load(root)
    domain = project.domain
    frame = project.feature_table("train").copy()
    if shuffle:
        frame[domain.label] = np.random.default_rng(0).permutation(frame[domain.label])
    params = domain.model.params(**{**project.model_params.model_dump(), **model_params})
    kinds = domain.features.kinds(project.features)
    return fit(domain.model.build(kinds, params), frame, project.features, domain.label)
