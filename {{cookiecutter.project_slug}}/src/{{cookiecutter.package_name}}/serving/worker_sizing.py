"""How many gunicorn workers to run: the container's CPU share, not the host's.

`os.cpu_count()` and `nproc` report the host's cores: on a 64-core node a container
limited to 1 CPU would start 129 workers and thrash. The CPU share is the smallest of
the cgroup v2 `cpu.max` quota, the cgroup v1 CFS quota and the CPU affinity set,
rounded up, at least 1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 mounts the cpu controller under one of these names.
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


@dataclass(frozen=True)
class CpuShare:
    cpus: int
    source: str  # "cgroup v2 cpu.max", "cgroup v1 cfs quota" or "cpu affinity"


@dataclass(frozen=True)
class WorkerCount:
    workers: int
    source: str  # how the number was reached, for the boot log line


def cpu_share(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    affinity: int | None = None,
) -> CpuShare:
    """The CPUs this process may use, and which limit decided it."""
    if affinity is None:
        affinity = _affinity()
    limits: list[tuple[float, str]] = []
    v2 = _tightest(_v2_quotas(cgroup_root, proc_self_cgroup))
    if v2 is not None:
        limits.append((v2, "cgroup v2 cpu.max"))
    v1 = _tightest(_v1_quotas(cgroup_root, proc_self_cgroup))
    if v1 is not None:
        limits.append((v1, "cgroup v1 cfs quota"))
    # Listed last so that a quota equal to the affinity is named as the source.
    limits.append((float(affinity), "cpu affinity"))
    value, source = min(limits, key=lambda limit: limit[0])
    return CpuShare(cpus=max(1, math.ceil(value)), source=source)


def worker_count(settings: Settings, share: CpuShare | None = None) -> WorkerCount:
    """WEB_CONCURRENCY if set, else WORKERS_PER_CORE x CPU + 1, capped by MAX_WORKERS."""
    if settings.web_concurrency is not None:
        return WorkerCount(settings.web_concurrency, "environment (WEB_CONCURRENCY)")
    share = share or cpu_share()
    workers = settings.workers_per_core * share.cpus + 1
    source = f"{share.source}: {share.cpus} cpu x {settings.workers_per_core} + 1"
    if settings.max_workers is not None and workers > settings.max_workers:
        return WorkerCount(settings.max_workers, f"{source}, capped by MAX_WORKERS")
    return WorkerCount(workers, source)


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _tightest(quotas: Iterator[float]) -> float | None:
    return min(quotas, default=None)


def _cgroup_paths(proc_self_cgroup: Path) -> dict[str, str]:
    """Map each controller list in /proc/self/cgroup ("" for v2) to its path."""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return {}
    paths = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    return paths


def _candidate_dirs(mount: Path, relative: str | None) -> Iterator[Path]:
    """The process's cgroup folder and every ancestor up to the mount point.

    Inside a container the mount point is usually the container's own cgroup; on a
    host, limits may sit on any ancestor, so every level counts.
    """
    seen = set()
    if relative:
        folder = mount / relative.lstrip("/")
        while folder != mount and mount in folder.parents:
            seen.add(folder)
            yield folder
            folder = folder.parent
    if mount not in seen:
        yield mount


def _v2_quotas(root: Path, proc_self_cgroup: Path) -> Iterator[float]:
    relative = _cgroup_paths(proc_self_cgroup).get("")
    for folder in _candidate_dirs(root, relative):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and int(period) > 0:
            yield int(quota) / int(period)


def _v1_quotas(root: Path, proc_self_cgroup: Path) -> Iterator[float]:
    paths = _cgroup_paths(proc_self_cgroup)
    relative = next((p for k, p in paths.items() if "cpu" in k.split(",")), None)
    for name in _V1_CPU_DIRS:
        mount = root / name
        if not mount.is_dir():
            continue
        for folder in _candidate_dirs(mount, relative):
            try:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:  # -1 means unlimited
                yield quota / period
        return
