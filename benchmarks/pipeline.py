"""Forced pipeline run against a plain-script floor, measured side by side (issue 13).

On the full worked-example data (336,776 flights), in throw-away copies of the project:
- default: `python benchmarks/floor.py` (the same core job as one plain script) and
  `mlpipe run --force --no-register`, alternately, --repeats times: median wall time and
  peak memory of each, and the ratio (target <= 3x the floor);
- --contention: forced runs started together in two copies, against a lone forced run
  measured in the same session (target: each <= 2.5x the lone run);
- --stages: also each stage as its own command (`mlpipe stage NAME`, as `dvc repro` runs
  it), `dvc repro` with nothing to do and `mlpipe --help`.
The machine's load average is recorded beside each figure: on a shared machine it is part
of the measurement. Usage: python benchmarks/pipeline.py [--repeats 3] [--contention]
[--stages]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import copy_repo, git_commit, project_env  # noqa: E402

FORCED = ("mlpipe", "run", "--force", "--no-register")
FLOOR = (sys.executable, str(REPO / "benchmarks" / "floor.py"))


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


def load() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 1)


def start(root: Path, args: tuple[str, ...]) -> subprocess.Popen:
    """Start ``args`` in ``root``, its output to files (a full pipe would stall it). The
    floor gets the thread settings every mlpipe command applies to itself (threads = usable
    CPUs, sleeping when idle), so the comparison is of the work, not of OpenMP spinning."""
    from mlpipe.core.cpus import limit_threads

    env = project_env(root)
    limit_threads(env)
    logs = Path(tempfile.mkdtemp(prefix="mlpipe-bench-output-"))
    with (logs / "out").open("w") as out, (logs / "err").open("w") as err:
        process = subprocess.Popen(list(args), cwd=root, env=env, stdout=out, stderr=err)
    process.logs = logs  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen, began: float) -> dict:
    """Wait for ``process``: wall seconds, its peak memory (itself and the processes it
    waited for), the load average at the end."""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    logs = process.logs  # type: ignore[attr-defined]
    out, err = (logs / "out").read_text(), (logs / "err").read_text()
    shutil.rmtree(logs)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(process.args)} failed:\n{err[-3000:]}\n{out[-2000:]}")
    return {
        "seconds": round(seconds, 2),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "load": load(),
        "stdout": out,
    }


def measure(root: Path, args: tuple[str, ...]) -> dict:
    began = time.perf_counter()
    return finish(start(root, args), began)


def project(folder: Path) -> Path:
    """A copy of this repository's project files, as a git repository."""
    root = copy_repo(folder)
    git_commit(root)
    return root


def summary(runs: list[dict]) -> dict:
    return {
        "seconds_median": round(statistics.median(r["seconds"] for r in runs), 2),
        "seconds": [r["seconds"] for r in runs],
        "peak_mb_median": round(statistics.median(r["peak_mb"] for r in runs)),
        "load_average": [r["load"] for r in runs],
    }


def forced_vs_floor(root: Path, repeats: int) -> dict:
    """The floor and the forced run alternately, so both see the same machine."""
    floor, forced = [], []
    for _ in range(repeats):  # the first run, in a fresh copy, does the same work forced
        floor.append(measure(root, FLOOR))
        forced.append(measure(root, FORCED))
    result = {"floor": summary(floor), "forced_run": summary(forced)}
    result["floor"]["roc_auc"] = json.loads(floor[-1]["stdout"].splitlines()[-1])["model_roc_auc"]
    result["ratio"] = round(
        result["forced_run"]["seconds_median"] / result["floor"]["seconds_median"], 2
    )
    result["target_ratio"] = 3.0
    return result


def contention(first: Path, second: Path, repeats: int) -> dict:
    """A lone forced run, then forced runs in two copies started together; each
    together-run over the lone median."""
    lone = [measure(first, FORCED) for _ in range(repeats)]
    together = []
    for _ in range(repeats):
        began = time.perf_counter()
        processes = [start(root, FORCED) for root in (first, second)]
        with ThreadPoolExecutor(2) as pool:  # each waits for its own process
            together.append(list(pool.map(finish, processes, [began] * 2)))
    lone_median = statistics.median(r["seconds"] for r in lone)
    worst = [max(r["seconds"] for r in pair) for pair in together]
    return {
        "lone": summary(lone),
        "together": [
            {"seconds": [r["seconds"] for r in pair], "load_average": max(r["load"] for r in pair)}
            for pair in together
        ],
        "slower_of_two_median_seconds": round(statistics.median(worst), 2),
        "ratio_to_lone": round(statistics.median(worst) / lone_median, 2),
        "target_ratio": 2.5,
    }


def stages(root: Path, repeats: int) -> dict:
    """Each stage as its own command, `dvc repro` with nothing to do, `mlpipe --help`."""
    from mlpipe.core.dag import plan

    specs = plan(root)
    runs: dict[str, list[dict]] = {spec.name: [] for spec in specs}
    noop, help_ = [], []
    for _ in range(repeats):
        for spec in specs:
            done = measure(root, tuple(spec.cmd.split()))
            peak = re.search(r"peak memory (\d+) MB", done["stdout"])
            runs[spec.name].append({**done, "peak_mb": int(peak.group(1)) if peak else 0})
        noop.append(measure(root, ("dvc", "repro")))
        help_.append(measure(root, ("mlpipe", "--help")))
    return {
        "stages_as_commands": {name: summary(r) for name, r in runs.items()},
        "dvc_repro_nothing_changed": summary(noop),
        "cli_help": summary(help_),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contention", action="store_true")
    parser.add_argument("--stages", action="store_true")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    name = "contention" if options.contention else "pipeline"
    out = options.out or REPO / "reports" / "benchmarks" / f"{name}.json"

    result: dict = {"repeats": options.repeats, "cpus": len(os.sched_getaffinity(0))}
    result["load_average_at_start"] = load()
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        root = project(Path(tmp) / "project")
        if options.contention:
            result.update(contention(root, project(Path(tmp) / "clone"), options.repeats))
        else:
            result.update(forced_vs_floor(root, options.repeats))
            if options.stages:
                result.update(stages(root, options.repeats))
    report(result, out)


if __name__ == "__main__":
    main()
