"""Monitoring wall time and peak memory for a log window of 100k served requests.

The log is filled by the real service code (PredictionService.predict, in batches) with
records of the last third of the project's time range (drawn with replacement), and
their labels; then the monitoring checks run in a fresh process. Works on any domain.
Usage: python benchmarks/monitoring.py --project PATH [--rows 100000]"""

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

LOG = "data/serving/bench.db"

FILL = """
import json, sys
from pathlib import Path
from mlpipe.core.project import Project
from mlpipe.serving.predictionlog import add_labels
from mlpipe.serving.service import PredictionService
root, rows, log = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
project = Project.load(root)
domain = project.domain
tables = project.raw_tables()
main = tables[domain.main_table]
when = project.axis.positions(main[domain.time])
later = main.loc[when >= when.quantile(2 / 3)]
chosen = later.sample(n=rows, replace=True, random_state=0)
records = json.loads(chosen[list(domain.serving_fields)].to_json(orient="records"))
settings = project.configs.serving.model_copy(update={"log_path": log, "mode": "off"})
service = PredictionService(root, settings)
for start in range(0, len(records), 1000):
    service.predict(records[start:start + 1000])
service.close()
prepared, _ = domain.prepare({**tables, domain.main_table: later})
add_labels(root / log, dict(zip(prepared[domain.key], prepared[domain.label])))
"""

MONITOR = """
import resource, sys, time
from pathlib import Path
from mlpipe.core.project import Project
from tasks.monitor import monitor
root = Path(sys.argv[1])
project = Project.load(root)
start = time.perf_counter()
result = monitor(project, root / sys.argv[2])
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
    (root / LOG).unlink(missing_ok=True)
    env = project_env(root)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", FILL, str(root), str(options.rows), LOG],
        cwd=root,
        env=env,
        check=True,
    )
    fill_seconds = time.perf_counter() - start
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MONITOR, str(root), LOG],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    process_seconds = time.perf_counter() - start
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
