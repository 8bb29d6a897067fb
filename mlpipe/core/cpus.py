"""How many threads a pool may start: the CPUs this process may actually use.

``os.cpu_count()`` is the machine's count; a process pinned to fewer CPUs (affinity) or
held to a CPU quota by its cgroup (a container, a CI runner, ``systemd-run -p CPUQuota``)
gets less. OpenMP (HistGradientBoosting), BLAS and Arrow size their pools from the
machine's count unless told otherwise, and threads that outnumber the CPUs spin against
each other: a run slows down many times over as soon as anything else runs beside it.

``MLPIPE_THREADS`` (a positive whole number) overrides the computed count."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from mlpipe.core.errors import ConfigError

OVERRIDE = "MLPIPE_THREADS"
# read by the OpenMP runtime (and Arrow's CPU pool), OpenBLAS and MKL when they load
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# OpenMP threads waiting at a barrier sleep instead of spinning: a spinning thread burns a
# CPU another process (or its own sibling) needs; under load, HistGradientBoosting's
# predictions ran 18x slower with spinning threads than with sleeping ones
WAIT_POLICY = ("OMP_WAIT_POLICY", "PASSIVE")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_v2_group(proc_cgroup: Path) -> str:
    """This process's cgroup v2 path (the ``0::/path`` line), "/" when unknown."""
    for line in (_read(proc_cgroup) or "").splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


def _ratio(text: str) -> float | None:
    """ "QUOTA PERIOD" (microseconds) as CPUs; None when unlimited ("max", -1) or unreadable."""
    try:
        quota, period = (int(part) for part in text.split())
        ratio = quota / period
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def quota_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """CPUs the cgroup's bandwidth quota allows (may be fractional), None when unlimited.

    cgroup v2: the tightest ``cpu.max`` from this process's group up to the root (a
    parent's quota binds its children). cgroup v1: ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us`` (quota -1 when unlimited)."""
    group = root / _own_v2_group(proc_cgroup).lstrip("/")
    quotas = []
    for folder in [group, *group.parents]:
        quota = _ratio(_read(folder / "cpu.max") or "")
        if quota is not None:
            quotas.append(quota)
        if folder == root:
            break
    if quotas:
        return min(quotas)
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        quota = _ratio(f"{_read(v1 / 'cpu.cfs_quota_us')} {_read(v1 / 'cpu.cfs_period_us')}")
        if quota is not None:
            return quota
    return None


def usable_cpus(
    affinity: Iterable[int] | None = None,
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
) -> int:
    """CPUs this process may run on (affinity), held to the cgroup quota rounded down
    (a pool of 2 threads under a 1.5-CPU quota gets throttled), at least 1."""
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    count = len(set(affinity)) if affinity is not None else (os.cpu_count() or 1)
    quota = quota_cpus(root, proc_cgroup)
    if quota is not None:
        count = min(count, math.floor(quota))
    return max(1, count)


def thread_count(environ: MutableMapping[str, str] | None = None) -> int:
    """``MLPIPE_THREADS`` when set, else the usable CPUs."""
    environ = os.environ if environ is None else environ
    value = environ.get(OVERRIDE, "").strip()
    if not value:
        return usable_cpus()
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{OVERRIDE} must be a positive whole number, not {value!r}")
    return int(value)


def limit_threads(environ: MutableMapping[str, str] | None = None) -> int:
    """Size the OpenMP, BLAS and Arrow pools of this process and of the processes it
    starts, OpenMP threads sleeping when idle; returns the OpenMP thread count.

    The variables are read when a library loads its runtime, so call this at start-up,
    before numpy or scikit-learn are imported; libraries already loaded are limited at
    runtime through threadpoolctl. A library variable the user set is kept, unless
    ``MLPIPE_THREADS`` is set: that one setting wins."""
    environ = os.environ if environ is None else environ
    count = thread_count(environ)
    explicit = bool(environ.get(OVERRIDE, "").strip())
    for name in THREAD_VARIABLES:
        if explicit or not environ.get(name, "").strip():
            environ[name] = str(count)
    environ.setdefault(*WAIT_POLICY)
    preset = environ["OMP_NUM_THREADS"].strip()
    threads = int(preset) if preset.isdigit() and int(preset) > 0 else count
    if environ is os.environ:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    return threads
