"""Test helpers: a throw-away copy of the project, and running its CLI for real."""

from __future__ import annotations

import os
import shutil
import signal
import socket
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
from mlpipe.core.params import ModelParams
from tasks import run_step
from tasks.train import build_model, fit

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Small but real: 4% of the flights (about 13k rows) and a quicker model.
SAMPLE_OVERRIDES = {
    "ingest": {"sample_fraction": 0.04, "seed": 42},
    "model": {"max_iter": 40},
    "evaluate": {"importance_sample": 500, "importance_repeats": 2, "min_slice_size": 300},
}

# Gate thresholds a 4% sample can meet; the shipped configs/gate.yaml is for the full data.
SAMPLE_GATE = {
    "floors": {"roc_auc": 0.53, "log_loss": 0.7},
    "baseline": {"metric": "roc_auc", "min_margin": 0.0},
    "champion": {"metric": "roc_auc", "tolerance": 0.01},
    "slices": {"metric": "roc_auc", "floor": 0.5},
    "inclusion": {"groups": ["origin"], "metric": "roc_auc", "max_gap": 0.3},
    "max_nonfinite_predictions": 0,
}


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
    outputs = ("data/", "models/", "reports/", "dvc.lock")
    return [
        Path(name)
        for name in listed.split("\0")
        if name and (root / name).is_file() and not name.startswith(outputs)
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


def make_project(dest: Path, overrides: dict | None = None, commit: bool = True) -> Path:
    """Copy the project's own files (no outputs, no stores) into ``dest`` as a git repo."""
    for relative in tracked_files(REPO):
        if relative.name == "dvc.lock":
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target)
    update_params(dest, SAMPLE_OVERRIDES if overrides is None else overrides)
    if overrides is None:
        (dest / "configs" / "gate.yaml").write_text(yaml.safe_dump(SAMPLE_GATE))
    if commit:
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        subprocess.run([*git, "commit", "-qm", "test project"], cwd=dest, check=True)
    return dest


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


def run_pipeline(root: Path) -> None:
    """The DAG in this process, committed to dvc.lock (the flow without Prefect)."""
    for spec in plan(root):
        reproduce(root, spec.name, lambda args: run_step(args, root))


def replace_model(root: Path, model) -> None:
    """Swap in another candidate and re-evaluate it, as a retraining would."""
    joblib.dump(model, root / "models" / "model.joblib")
    meta = read_json(root / "models" / "model.json")
    meta["sha256"]["model"] = file_sha256(root / "models" / "model.joblib")
    write_json(root / "models" / "model.json", meta)
    run_step(["evaluate"], root)


def train(root: Path, shuffle: bool = False, **model_params):
    import pandas as pd

    params = yaml.safe_load((root / "params.yaml").read_text())
    table = pd.read_parquet(root / "data" / "features" / "features.parquet")
    frame = table.loc[table["split"] == "train"].copy()
    if shuffle:
        frame["late_arrival"] = np.random.default_rng(0).permutation(frame["late_arrival"])
    from flights import features

    kinds = features.kinds(params["features"])
    spec = {**params["model"], **model_params}
    return fit(build_model(kinds, ModelParams(**spec)), frame, params["features"], "late_arrival")
