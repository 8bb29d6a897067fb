"""Registry commands in a fresh process, against their targets (issue 13, target 4).

In a throw-away project (the toy domain by default, or ``--flights`` for the worked
example on its full data): the pipeline runs in this process, then each command is
timed as a fresh `mlpipe` process, start-up included, and compared with its target:
- `mlpipe register` of a new version (gate with the champion re-scored + registration),
  one new candidate per repeat: <= 5 s;
- `mlpipe register` when the model is already registered (no gate): <= 2 s;
- `mlpipe models`, `mlpipe history`, `mlpipe promote`, `mlpipe rollback`: <= 2 s each.
Reports medians of wall time, and of the command's CPU time (user + system: what it
costs whatever else loads the machine), the load average before and after, and writes
reports/benchmarks/registry.json.
Usage: python benchmarks/registry.py [--repeats 5] [--flights]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import report, timed  # noqa: E402
from tests.helpers import (  # noqa: E402
    copy_repo,
    git_commit,
    make_project,
    run_pipeline,
    update_params,
)

TARGETS = {
    "register_new_version": 5.0,
    "register_already_registered": 2.0,
    "models": 2.0,
    "history": 2.0,
    "promote": 2.0,
    "rollback": 2.0,
}


def measured(root: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _ = timed(root, *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def new_candidate(root: Path, seed: int) -> None:
    """Another seed: a model of the same quality with new bytes, from a clean tree."""
    update_params(root, {"model": {"random_state": seed}})
    git_commit(root, f"seed {seed}")
    run_pipeline(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--flights", action="store_true", help="The worked example, full data.")
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "registry.json"
    )
    options = parser.parse_args()
    median = statistics.median
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        if options.flights:
            root = copy_repo(Path(tmp) / "project")
            git_commit(root)
        else:
            root = make_project(Path(tmp) / "project")
        run_pipeline(root)
        timed(root, "mlpipe", "register")  # version 1: champion
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in TARGETS}
        for seed in range(1, options.repeats + 1):
            new_candidate(root, 100 + seed)
            times["register_new_version"].append(measured(root, "mlpipe", "register"))
        newest = str(options.repeats + 1)
        reason = ("--force", "--reason", "benchmark")
        for _ in range(options.repeats):
            times["register_already_registered"].append(measured(root, "mlpipe", "register"))
            times["models"].append(measured(root, "mlpipe", "models"))
            times["history"].append(measured(root, "mlpipe", "history"))
            times["promote"].append(
                measured(root, "mlpipe", "promote", "--version", newest, *reason)
            )
            times["rollback"].append(measured(root, "mlpipe", "rollback", "--to", "1"))

    result: dict[str, object] = {
        "project": "flights (full data)" if options.flights else "toy domain",
        "repeats": options.repeats,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    for name, target in TARGETS.items():
        seconds = round(median(wall for wall, _ in times[name]), 2)
        cpu = round(median(cpu for _, cpu in times[name]), 2)
        result[name] = {
            "median_seconds": seconds,
            "median_cpu_seconds": cpu,
            "all_seconds": [round(wall, 2) for wall, _ in times[name]],
            "target_seconds": target,
            "met": seconds <= target,
        }
        print(
            f"{name:30s} {seconds:6.2f} s wall, {cpu:5.2f} s CPU  (target <= {target:g} s: "
            f"{'met' if seconds <= target else 'NOT met'})"
        )
    report(result, options.out)


if __name__ == "__main__":
    main()
