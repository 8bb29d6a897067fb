"""Pipeline benchmark on the full worked-example data (336,776 flights).

Measures, in a throw-away copy of the project:
- each stage run alone as `mlpipe stage ...` (its own process): wall time, peak memory;
- all stage functions run directly, one after another in one process (no Prefect, no DVC);
- the same pipeline as the Prefect flow, `mlpipe run --force --no-register` (stages only,
  no gate or registry): wall time and peak memory,
  and its overhead over the direct run;
- `dvc repro` when nothing changed;
- `mlpipe --help` start-up.
Reports medians over --repeats runs. Usage: python benchmarks/pipeline.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import copy_repo, git_commit, project_env  # noqa: E402

DIRECT = """
import resource, sys, time
from pathlib import Path
from mlpipe.core.dag import plan
from tasks import run_step
root = Path(sys.argv[1])
specs = plan(root)
start = time.perf_counter()
for spec in specs:
    run_step(spec.in_process_args, root)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def timed(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        list(args), cwd=root, env=project_env(root), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return elapsed, done


def report(result: dict, out: Path) -> None:
    """Print the result and keep it as JSON under reports/benchmarks/."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def children_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "benchmarks" / "pipeline.json"
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        root = copy_repo(Path(tmp) / "project")
        git_commit(root)
        from mlpipe.core.dag import plan

        specs = plan(root)
        stages: dict[str, list[tuple[float, float]]] = {spec.name: [] for spec in specs}
        direct, flow, flow_peak, noop, help_ = [], [], [], [], []
        for _ in range(options.repeats):
            for spec in specs:
                seconds, done = timed(root, *spec.cmd.split())
                peak = float(re.search(r"peak memory (\d+) MB", done.stdout).group(1))
                stages[spec.name].append((seconds, peak))
            _, done = timed(root, sys.executable, "-c", DIRECT, str(root))
            direct_seconds, _ = map(float, done.stdout.split()[-2:])
            direct.append(direct_seconds)
            seconds, _ = timed(root, "mlpipe", "run", "--force", "--no-register")
            flow.append(seconds)
            flow_peak.append(children_peak_mb())
            noop.append(timed(root, "dvc", "repro")[0])
            help_.append(timed(root, "mlpipe", "--help")[0])

    median = statistics.median
    stage_rows = {
        name: {
            "seconds": round(median(s for s, _ in runs), 2),
            "peak_mb": round(median(m for _, m in runs)),
        }
        for name, runs in stages.items()
    }
    result = {
        "repeats": options.repeats,
        "stages_as_commands": stage_rows,
        "direct_in_one_process_seconds": round(median(direct), 2),
        "flow_seconds": round(median(flow), 2),
        "flow_peak_mb": round(max(flow_peak)),
        "flow_overhead_percent": round(100 * (median(flow) / median(direct) - 1), 1),
        "flow_overhead_seconds": round(median(flow) - median(direct), 2),
        "dvc_repro_nothing_changed_seconds": round(median(noop), 2),
        "cli_help_seconds": round(median(help_), 2),
    }
    report(result, options.out)


if __name__ == "__main__":
    main()
