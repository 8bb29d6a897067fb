"""The feedback loop when nothing changed: `mlpipe run` beside `dvc repro` and `mlpipe --help`.

In a throw-away copy of the project (the worked example, full data): one `mlpipe run`
(trains, gates and registers version 1); then, interleaved so that all three see the same
machine, each of these as a fresh process (start-up included), --repeats times:
- `mlpipe run` with nothing to do (target: <= 3 s; no Prefect server, no gate);
- `dvc repro` with nothing to do (the bar);
- `mlpipe --help` (the CLI's start-up).
Reports medians and the load average around them (the machine may be shared).
Usage: python benchmarks/feedback.py [--repeats 5] [--root EXISTING_PROJECT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import report, timed  # noqa: E402
from tests.helpers import copy_repo, git_commit  # noqa: E402

TARGET_SECONDS = 3.0
COMMANDS = {
    "mlpipe_run_nothing_to_do": ("mlpipe", "run"),
    "dvc_repro_nothing_to_do": ("dvc", "repro"),
    "mlpipe_help": ("mlpipe", "--help"),
}


def measure(root: Path, repeats: int) -> dict:
    """Medians of each command, interleaved; the load average before and after."""
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            seconds, done = timed(root, *command)
            if name == "mlpipe_run_nothing_to_do" and "nothing to do" not in done.stdout:
                raise SystemExit(f"mlpipe run had something to do:\n{done.stdout[-2000:]}")
            times[name].append(seconds)
    medians = {name: round(statistics.median(values), 2) for name, values in times.items()}
    return {
        "repeats": repeats,
        **{f"{name}_seconds": value for name, value in medians.items()},
        "all_seconds": {name: [round(v, 2) for v in values] for name, values in times.items()},
        "mlpipe_run_over_dvc_repro": round(
            medians["mlpipe_run_nothing_to_do"] / medians["dvc_repro_nothing_to_do"], 2
        ),
        "target_seconds": TARGET_SECONDS,
        "met": medians["mlpipe_run_nothing_to_do"] <= TARGET_SECONDS,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", type=Path, help="A project that has run (default: a copy).")
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "feedback.json"
    )
    options = parser.parse_args()
    if options.root:
        report(measure(options.root.resolve(), options.repeats), options.out)
        return
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        root = copy_repo(Path(tmp) / "project")  # the worked example, as a git repository
        git_commit(root)
        first, _ = timed(root, "mlpipe", "run")
        result = measure(root, options.repeats)
    report({"first_run_seconds": round(first, 1), **result}, options.out)


if __name__ == "__main__":
    main()
