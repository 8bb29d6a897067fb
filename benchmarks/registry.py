"""Gate + registration and rollback wall times, on the full worked-example data.

In a throw-away copy of the project: run the pipeline once without registering, then
time (each as a fresh `mlpipe` process, start-up included):
- `mlpipe register` that registers a new version (gate incl. champion re-scoring + registry);
- `mlpipe register` when the model is already registered (gate + lookup);
- `mlpipe rollback --to V`, alternating between two versions.
Reports medians. Usage: python benchmarks/registry.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import report, timed  # noqa: E402
from tests.helpers import copy_repo, git_commit, update_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "registry.json"
    )
    options = parser.parse_args()
    median = statistics.median

    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        root = copy_repo(Path(tmp) / "project")  # the worked example, as a git repository
        git_commit(root)
        timed(root, "mlpipe", "run", "--no-register")
        first, _ = timed(root, "mlpipe", "register")
        update_params(root, {"model": {"random_state": 7}})  # same quality, new bytes
        git_commit(root, "another seed")  # registering needs a clean tree
        timed(root, "mlpipe", "run", "--no-register")
        new_version, _ = timed(root, "mlpipe", "register")
        timed(root, "mlpipe", "promote", "--force", "--reason", "benchmark: no review evidence")
        again = [timed(root, "mlpipe", "register")[0] for _ in range(options.repeats)]
        rollbacks = [
            timed(root, "mlpipe", "rollback", "--to", "1" if i % 2 == 0 else "2")[0]
            for i in range(options.repeats)
        ]
        help_ = [timed(root, "mlpipe", "--help")[0] for _ in range(options.repeats)]

    result = {
        "repeats": options.repeats,
        "register_first_version_seconds": round(first, 2),
        "gate_and_register_new_version_seconds": round(new_version, 2),
        "gate_and_register_already_registered_seconds": round(median(again), 2),
        "rollback_seconds": round(median(rollbacks), 2),
        "cli_startup_seconds": round(median(help_), 2),
    }
    report(result, options.out)


if __name__ == "__main__":
    main()
