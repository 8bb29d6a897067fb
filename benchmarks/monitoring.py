"""Monitoring wall time and peak memory for a log window of 100k served requests.

The log is filled by the real service code (PredictionService.predict, in batches) with
flights of months 9-12, and their labels; then the monitoring checks run in a fresh
process. Usage: python benchmarks/monitoring.py --project PATH [--rows 100000]"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import report  # noqa: E402
from tests.helpers import project_env  # noqa: E402

FILL = """
import json, sys, pandas as pd
from pathlib import Path
from mlpipe.serving.service import PredictionService
from mlpipe.serving.predictionlog import add_labels
from mlpipe.core.project import Project
root, rows = Path(sys.argv[1]), int(sys.argv[2])
fields = ["year", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight",
          "tailnum", "origin", "dest", "distance", "time_hour"]
flights = pd.read_parquet(root / "data/raw/flights.parquet")
chosen = flights.loc[flights["month"] >= 9].sample(n=rows, replace=True, random_state=0)
records = json.loads(chosen[fields].to_json(orient="records"))
service = PredictionService(root)
for start in range(0, len(records), 1000):
    service.predict(records[start:start + 1000])
service.close()
ctx = Project.load(root)
tables = {n: pd.read_parquet(root / f"data/raw/{n}.parquet") for n in ctx.domain.TABLES}
labelled, _ = ctx.domain.prepare({**tables, "flights": flights.loc[flights["month"] >= 9]},
                                 ctx.options)
add_labels(root / "data/serving/bench.db", dict(zip(labelled["flight_key"],
                                                  labelled["late_arrival"])))
"""

MONITOR = """
import resource, sys, time
from pathlib import Path
from mlpipe.core.project import Project
from mlpipe.monitoring.checks import load_monitor_config
from tasks.monitor import monitor
root = Path(sys.argv[1])
ctx = Project.load(root)
start = time.perf_counter()
result = monitor(ctx, load_monitor_config(root / "configs/monitoring.yaml"),
                 root / "data/serving/bench.db", None)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      result["rows"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "monitoring.json"
    )
    options = parser.parse_args()
    root = options.project.resolve()
    settings = root / "configs" / "serving.yaml"
    original = settings.read_text()
    settings.write_text(
        original.replace("log_path: data/serving/predictions.db", "log_path: data/serving/bench.db")
    )
    try:
        (root / "data" / "serving" / "bench.db").unlink(missing_ok=True)
        env = project_env(root)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", FILL, str(root), str(options.rows)],
            cwd=root,
            env=env,
            check=True,
        )
        fill_seconds = time.perf_counter() - start
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MONITOR, str(root)],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        process_seconds = time.perf_counter() - start
    finally:
        settings.write_text(original)
    seconds, peak_mb, rows = done.stdout.split()[-3:]
    result = {
        "rows": int(rows),
        "monitor_seconds": round(float(seconds), 2),
        "monitor_process_seconds_with_imports": round(process_seconds, 2),
        "peak_memory_mb": round(float(peak_mb)),
        "log_fill_seconds_through_service_code": round(fill_seconds, 2),
    }
    report(result, options.out)


if __name__ == "__main__":
    main()
