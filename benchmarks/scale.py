"""How the forced run grows with the data: `mlpipe run --force --no-register` on 1x, 2x
and 4x the flights (issue 13 target 6: <= 4.5x the time at 4x, peak memory <= 4 GB).

The enlarged data is made here, for the benchmark only (the pipeline's normal path is not
touched): copy k of the 336,776 flights gets flight number + 10000 * k (so every flight
key stays unique) and tail number + "-k" (the planes table gains the same aircraft under
that tail number, so the join finds them), and its departure and arrival delays move by
a seeded random whole number of minutes in [-5, 5] (so copies are not duplicates and some
labels change). Weather, airports and airlines are as shipped. Each factor gets its own
copy of the project whose params.yaml points `domain.options.source_dir` at the enlarged
files, and whose raw and feature suites allow the larger row counts and flight numbers
(the only expectations the enlargement breaks by design).

Usage: python benchmarks/scale.py [--factors 1 2 4] [--seed 13]"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import FORCED, load, measure, project, report  # noqa: E402
from flights.source import TABLES, package_data_dir  # noqa: E402

STAGE_ROW = re.compile(r"^\W*(\w+)\W+ran\W+([\d.]+)\W*$")


def enlarge(factor: int, dest: Path, seed: int) -> int:
    """The source tables with ``factor`` copies of the flights (see the module's doc);
    returns the number of flights written."""
    source = package_data_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for filename in TABLES.values():
        shutil.copy2(source / filename, dest / filename)
    if factor == 1:
        return len(pd.read_csv(source / TABLES["flights"], usecols=["flight"]))
    rng = np.random.default_rng(seed)
    flights = pd.read_csv(source / TABLES["flights"], low_memory=False)
    planes = pd.read_csv(source / TABLES["planes"])
    copies, aircraft = [flights], [planes]
    for k in range(1, factor):
        copy = flights.copy()
        copy["flight"] = copy["flight"] + 10_000 * k
        copy["tailnum"] = copy["tailnum"].where(copy["tailnum"].isna(), copy["tailnum"] + f"-{k}")
        for column in ("dep_delay", "arr_delay"):
            copy[column] = copy[column] + rng.integers(-5, 6, len(copy))
        copies.append(copy)
        aircraft.append(planes.assign(tailnum=planes["tailnum"] + f"-{k}"))
    enlarged = pd.concat(copies, ignore_index=True)
    enlarged.to_csv(
        dest / TABLES["flights"],
        index=False,
        compression={"method": "zip", "archive_name": "flights.csv"},
    )
    pd.concat(aircraft, ignore_index=True).to_csv(dest / TABLES["planes"], index=False)
    return len(enlarged)


def allow(suite: Path, changes: dict[tuple[str, str | None], dict]) -> None:
    """Set kwargs of the expectations named by (type, column) in a suite file."""
    spec = json.loads(suite.read_text())
    for expectation in spec["expectations"]:
        key = (expectation["type"], expectation["kwargs"].get("column"))
        if key in changes:
            expectation["kwargs"].update(changes[key])
    suite.write_text(json.dumps(spec, indent=2) + "\n")


def scaled_project(folder: Path, source: Path, factor: int) -> Path:
    root = project(folder)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["domain"].setdefault("options", {})["source_dir"] = str(source)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rows = {("expect_table_row_count_to_be_between", None): {"max_value": 10_000_000}}
    expectations = root / "configs" / "expectations"
    allow(
        expectations / "raw" / "flights.json",
        {
            **rows,
            ("expect_column_values_to_be_between", "flight"): {"max_value": 10_000 * factor},
        },
    )
    allow(expectations / "features.json", rows)
    from tests.helpers import git_commit

    git_commit(root, "benchmark: enlarged source")
    return root


def stage_seconds(stdout: str) -> dict[str, float]:
    """The stage table `mlpipe run` prints: stage -> seconds."""
    found = {}
    for line in stdout.splitlines():
        match = STAGE_ROW.match(line.strip())
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks" / "scale.json")
    options = parser.parse_args()

    points = []
    with tempfile.TemporaryDirectory(prefix="mlpipe-scale-") as tmp:
        for factor in options.factors:
            source = Path(tmp) / f"source-{factor}x"
            flights = enlarge(factor, source, options.seed)
            root = scaled_project(Path(tmp) / f"project-{factor}x", source, factor)
            run = measure(root, FORCED)
            points.append(
                {
                    "factor": factor,
                    "flights": flights,
                    "seconds": run["seconds"],
                    "peak_mb": run["peak_mb"],
                    "load_average": run["load"],
                    "stages": stage_seconds(run["stdout"]),
                }
            )
            print(json.dumps(points[-1]), flush=True)
            shutil.rmtree(root)
            shutil.rmtree(source)
    base = points[0]
    for point in points:
        point["time_ratio"] = round(point["seconds"] / base["seconds"], 2)
    # the curve's local slope: log(time ratio) / log(size ratio) between neighbours
    # (1 = linear; a jump shows where it bends)
    slopes = {
        f"{a['factor']}x->{b['factor']}x": round(
            math.log(b["seconds"] / a["seconds"]) / math.log(b["factor"] / a["factor"]), 2
        )
        for a, b in pairwise(points)
    }
    result = {
        "points": points,
        "slopes": slopes,
        "max_peak_mb": max(p["peak_mb"] for p in points),
        "targets": {"time_ratio_at_4x": 4.5, "peak_mb": 4096},
        "load_average_at_end": load(),
    }
    report(result, options.out)


if __name__ == "__main__":
    main()
