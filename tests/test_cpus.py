"""Thread pools sized to the CPUs the process may use: affinity, cgroup quota, override."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpipe.core.cpus import THREAD_VARIABLES, limit_threads, quota_cpus, thread_count, usable_cpus
from mlpipe.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def cgroup(tmp_path: Path, files: dict[str, str], own: str = "/") -> tuple[Path, Path]:
    """A fake cgroup mount and /proc/self/cgroup naming this process's group."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    root.mkdir(parents=True, exist_ok=True)
    membership = tmp_path / "proc-self-cgroup"
    membership.write_text(f"0::{own}\n")
    return root, membership


@pytest.mark.parametrize(
    ("files", "own", "expected"),
    [
        ({}, "/", 4),  # no quota: the affinity
        ({"cpu.max": "max 100000"}, "/", 4),  # unlimited
        ({"cpu.max": "200000 100000"}, "/", 2),
        ({"cpu.max": "150000 100000"}, "/", 1),  # 1.5 CPUs: rounded down
        ({"cpu.max": "50000 100000"}, "/", 1),  # half a CPU: still one thread
        ({"cpu.max": "800000 100000"}, "/", 4),  # quota above the affinity
        # a parent's quota binds the group this process is in
        ({"ci.slice/cpu.max": "300000 100000", "cpu.max": "100000 100000"}, "/ci.slice", 1),
        (
            {"ci.slice/job/cpu.max": "max 100000", "ci.slice/cpu.max": "200000 100000"},
            "/ci.slice/job",
            2,
        ),
        # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, "/", 3),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, "/", 4),
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "100000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            "/",
            1,
        ),
        ({"cpu.max": "garbage"}, "/", 4),
    ],
)
def test_usable_cpus_from_affinity_and_cgroup_quota(tmp_path, files, own, expected):
    root, membership = cgroup(tmp_path, files, own)
    assert usable_cpus({0, 1, 2, 3}, root, membership) == expected


def test_quota_is_fractional_and_none_when_unlimited(tmp_path):
    root, membership = cgroup(tmp_path, {"cpu.max": "150000 100000"})
    assert quota_cpus(root, membership) == 1.5
    root, membership = cgroup(tmp_path / "other", {})
    assert quota_cpus(root, membership) is None


def test_affinity_of_this_process_is_the_default():
    assert usable_cpus(root=Path("/nonexistent"), proc_cgroup=Path("/nonexistent")) == len(
        os.sched_getaffinity(0)
    )


def test_override_wins_and_must_be_a_positive_whole_number():
    assert thread_count({"MLPIPE_THREADS": "3"}) == 3
    assert thread_count({}) == usable_cpus()
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(ConfigError, match="MLPIPE_THREADS"):
            thread_count({"MLPIPE_THREADS": bad})


def test_library_variables_kept_unless_the_override_is_set():
    environ = {"OMP_NUM_THREADS": "3"}
    assert limit_threads(environ) == 3
    assert environ["OPENBLAS_NUM_THREADS"] == environ["MKL_NUM_THREADS"] == str(usable_cpus())
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    environ = {"OMP_NUM_THREADS": "3", "MLPIPE_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}
    assert limit_threads(environ) == 1
    assert all(environ[name] == "1" for name in THREAD_VARIABLES)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"


PROBE = """
import json, sys
from mlpipe.core.cpus import limit_threads
if sys.argv[1] == "late":  # libraries loaded first: limited at runtime
    import sklearn.utils._openmp_helpers
limit_threads()
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info
pools = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
print(json.dumps({"effective": _openmp_effective_n_threads(), "pools": pools}))
"""


@pytest.mark.parametrize("when", ["early", "late"])
def test_the_limit_takes_effect_in_openmp_and_blas(when):
    """HistGradientBoosting's OpenMP threads and the BLAS pool follow MLPIPE_THREADS,
    whether it is applied before the libraries load or after."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update({"MLPIPE_THREADS": "1", "OMP_NUM_THREADS": "2"})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, when],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["effective"] == 1
    assert seen["pools"]["openmp"] == 1
    assert seen["pools"].get("blas", 1) == 1


def test_a_bad_override_is_one_clear_message(tmp_path):
    env = {**os.environ, "MLPIPE_THREADS": "many"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "models"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "error: MLPIPE_THREADS must be a positive whole number, not 'many'" in done.stderr
    assert "Traceback" not in done.stderr
