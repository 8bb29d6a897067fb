"""Tuning wall time with 1 vs 2 Dask workers (issue 13 target 7: 8 trials on 2 workers
>= 1.8x faster than on 1), and the overhead of a deployment run through a Prefect server
+ process worker against the same flow run directly (--deployment).

The two worker counts alternate, so both see the same machine; the load average is
recorded beside each. Usage: python benchmarks/tuning.py [--project PATH] (a project whose
pipeline has run on the full data; without it, a copy of this one is built and run)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import project, report, timed  # noqa: E402
from tests.helpers import (  # noqa: E402
    free_port,
    project_env,
    start_service,
    stop_service,
)


def tuning_seconds(root: Path, workers: int) -> dict:
    wall, _ = timed(root, "mlpipe", "tune", "--workers", str(workers))
    trials = json.loads((root / "reports" / "tuning.json").read_text())["wall_seconds"]
    return {"command": wall, "trials": trials, "load": round(os.getloadavg()[0], 1)}


def deployment_overhead(root: Path, repeats: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="prefect-home-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **project_env(root),
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "MLPIPE_ROOT": str(root),
    }
    server = start_service(
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        f"{url}/health",
        env,
        seconds=120,
    )
    worker = None
    try:

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                list(args), cwd=root, env=env, capture_output=True, text=True, check=True
            )

        run("prefect", "work-pool", "create", "mlpipe-local", "--type", "process", "--overwrite")
        run("prefect", "--no-prompt", "deploy", "--name", "weekly")
        worker = subprocess.Popen(
            ["prefect", "worker", "start", "--pool", "mlpipe-local"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deployed, direct = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            done = run("prefect", "deployment", "run", "training/weekly", "--watch")
            deployed.append(time.perf_counter() - start)
            assert "Completed" in done.stdout, done.stdout
            start = time.perf_counter()
            subprocess.run(
                ["mlpipe", "run"], cwd=root, env=project_env(root), check=True, capture_output=True
            )
            direct.append(time.perf_counter() - start)
    finally:
        if worker is not None:
            stop_service(worker)
        stop_service(server)
    return {
        "deployment_run_seconds": round(statistics.median(deployed), 2),
        "direct_mlpipe_run_seconds": round(statistics.median(direct), 2),
        "overhead_seconds": round(statistics.median(deployed) - statistics.median(direct), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--deployment", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks" / "tuning.json")
    options = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory(prefix="mlpipe-tuning-") as tmp:
        if options.project:
            root = options.project.resolve()
        else:
            root = project(Path(tmp) / "project")
            timed(root, "mlpipe", "run", "--no-register")
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(options.repeats):
            for workers in (1, 2):
                runs[workers].append(tuning_seconds(root, workers))
        result: dict = {"repeats": options.repeats}
        for workers, measured in runs.items():
            result[f"workers_{workers}"] = {
                "command_seconds": round(statistics.median(r["command"] for r in measured), 2),
                "trials_seconds": round(statistics.median(r["trials"] for r in measured), 2),
                "load_average": [r["load"] for r in measured],
            }
        result["speedup_trials"] = round(
            result["workers_1"]["trials_seconds"] / result["workers_2"]["trials_seconds"], 2
        )
        result["target_speedup"] = 1.8
        print(json.dumps(result, indent=2), flush=True)
        if options.deployment:
            result["deployment"] = deployment_overhead(root, options.repeats)
    report(result, options.out)


if __name__ == "__main__":
    main()
