"""Serving benchmark: `mlpipe serve` against `mlflow models serve` of the same champion,
with the same load generator (benchmarks/loadgen.py), on loopback.

- single-record latency p50/p99: one connection, sequential requests;
- throughput: 8 connections for a fixed time;
- shadow cost: our service's throughput with mode off vs mode shadow (a challenger
  scoring every request too; without one registered, the champion's version is made its
  own challenger for the run, so the challenger costs what the champion costs).
Our service takes raw request fields and computes features itself; `mlflow models serve`
takes the finished feature vector. Same examples (the holdout window), same model. Each
figure is saved with the load average at the time (the machine may be shared).

Usage: python benchmarks/serving.py --project PATH  (a project with a registered
champion, e.g. after `make run`), or without --project to build one on the full data
first (several minutes)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.loadgen import run_load  # noqa: E402
from benchmarks.pipeline import report, timed  # noqa: E402
from mlpipe.core.io import read_parquet  # noqa: E402
from mlpipe.core.paths import ProjectPaths  # noqa: E402
from mlpipe.core.project import SPLIT, Project  # noqa: E402
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry  # noqa: E402
from tasks.replay import replay_frames  # noqa: E402
from tests.helpers import (  # noqa: E402
    copy_repo,
    free_port,
    git_commit,
    project_env,
    start_service,
    stop_service,
)


def start(cmd: list[str], root: Path, port: int, ready: str) -> subprocess.Popen[bytes]:
    return start_service(
        cmd, f"http://127.0.0.1:{port}{ready}", project_env(root), cwd=root, seconds=180
    )


def loaded(figures: dict) -> dict:
    """``figures`` with the 1-minute load average when they were taken."""
    return {**figures, "load_average_1m": round(os.getloadavg()[0], 2)}


def measure(port: int, path: str, payloads: list, seconds: float) -> dict:
    run_load("127.0.0.1", port, path, payloads[:50], 1, 50, 30)  # warm-up
    return {
        "single_record": loaded(run_load("127.0.0.1", port, path, payloads, 1, 2000, seconds)),
        "throughput_8_connections": loaded(
            run_load("127.0.0.1", port, path, payloads, 8, 100000, seconds)
        ),
    }


def borrowed_challenger(root: Path) -> bool:
    """Without a challenger, point the alias at the champion's version for the run."""
    registry = Registry(ProjectPaths(root), must_exist=True)
    if registry.alias(CHALLENGER) is not None:
        return False
    with registry.lock():
        champion = registry.alias(CHAMPION)
        registry.move_alias(CHALLENGER, champion.version, "benchmark", "shadow cost")
    return True


def give_back_challenger(root: Path) -> None:
    registry = Registry(ProjectPaths(root), must_exist=True)
    with registry.lock():
        registry.move_alias(CHALLENGER, None, "benchmark", "shadow cost measured")


def set_mode(root: Path, mode: str) -> None:
    path = root / "configs" / "serving.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.update(mode=mode, reload_seconds=0.5)
    path.write_text(yaml.safe_dump(settings))


def build_project(root: Path) -> Path:
    """A full-data project of the example with a champion registered."""
    copy_repo(root)
    git_commit(root)
    timed(root, "mlpipe", "run")
    return root


def runtime_parity(root: Path, features, names: list[str]) -> dict:
    """The serving runtime against scikit-learn over the whole holdout, 64 rows a call
    (the runtime's own size; issue 13: identical to 1e-6)."""
    import numpy as np

    from mlpipe.serving.fasttrees import fast_model

    registry = Registry(ProjectPaths(root), must_exist=True)
    model = registry.load_model(registry.alias(CHAMPION).version)
    runtime = fast_model(model)
    if runtime is None:
        return {"runtime": "scikit-learn (no fast runtime for this model)"}
    rows = features.loc[features[SPLIT] == "holdout", names]
    expected = model.predict_proba(rows)[:, 1]
    served = np.concatenate(
        [runtime.predict_proba(rows.iloc[i : i + 64])[:, 1] for i in range(0, len(rows), 64)]
    )
    return {"rows": len(rows), "max_abs_difference": float(np.abs(served - expected).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "serving.json"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        if options.project:
            root = options.project.resolve()
        else:
            root = build_project(options.keep.resolve() if options.keep else Path(tmp) / "project")
        project = Project.load(root)
        holdout, _ = replay_frames(project, None, 2000)
        raw = json.loads(holdout.to_json(orient="records"))
        features = read_parquet(project.paths.features)
        model_name = project.configs.registry.model_name
        names = project.features
        rows = features.loc[features[SPLIT] == "holdout", names].head(2000)
        feature_payloads = [
            {"dataframe_split": {"columns": names, "data": [row]}}
            for row in json.loads(rows.to_json(orient="values"))
        ]
        result: dict = {"seconds_per_measurement": options.seconds}
        result["runtime_parity_holdout"] = runtime_parity(root, features, names)

        config = root / "configs" / "serving.yaml"
        original = config.read_text()
        borrowed = borrowed_challenger(root)
        try:
            port = free_port()
            set_mode(root, "off")
            ours = start(["mlpipe", "serve", "--port", str(port)], root, port, "/ready")
            try:
                result["mlpipe_serve_off"] = measure(port, "/predict", raw, options.seconds)
                set_mode(root, "shadow")
                time.sleep(2)
                result["mlpipe_serve_shadow"] = measure(port, "/predict", raw, options.seconds)
            finally:
                stop_service(ours)
        finally:
            config.write_text(original)
            if borrowed:
                give_back_challenger(root)

        port = free_port()
        uri = f"models:/{model_name}@champion"
        theirs = start(
            [
                "mlflow",
                "models",
                "serve",
                "-m",
                uri,
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            root,
            port,
            "/ping",
        )
        try:
            result["mlflow_models_serve"] = measure(
                port, "/invocations", feature_payloads, options.seconds
            )
        finally:
            stop_service(theirs)

    ours_t = result["mlpipe_serve_off"]["throughput_8_connections"]["throughput_rps"]
    shadow_t = result["mlpipe_serve_shadow"]["throughput_8_connections"]["throughput_rps"]
    theirs_t = result["mlflow_models_serve"]["throughput_8_connections"]["throughput_rps"]
    off = result["mlpipe_serve_off"]["single_record"]["p50_ms"]
    shadow = result["mlpipe_serve_shadow"]["single_record"]["p50_ms"]
    result["throughput_ratio_vs_mlflow"] = round(ours_t / theirs_t, 2)
    result["shadow_throughput_cost_percent"] = round(100 * (1 - shadow_t / ours_t), 1)
    result["shadow_extra_latency_percent"] = round(100 * (shadow / off - 1), 1)
    result["targets"] = {
        "single_record_p50_ms": 5,
        "single_record_p99_ms": 15,
        "throughput_ratio_vs_mlflow": 2,
        "shadow_throughput_cost_percent": 10,
    }
    report(result, options.out)


if __name__ == "__main__":
    main()
