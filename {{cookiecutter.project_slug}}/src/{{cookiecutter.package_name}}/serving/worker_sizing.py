"""How many gunicorn workers to run: the container's CPU share and memory, not the host's.

`os.cpu_count()` and `nproc` report the host's cores: on a 64-core node a container
limited to 1 CPU would start 129 workers and thrash. The CPU share is the smallest of
the cgroup v2 `cpu.max` quota, the cgroup v1 CFS quota and the CPU affinity set,
rounded up, at least 1.

CPUs alone do not size a service: 2 x 2 CPUs + 1 workers of a large app in a 512 MiB
container run out of memory, get OOM-killed, are replaced, and run out again. So the
count is also at most what the memory holds: the smallest of the cgroup v2
`memory.max`, the cgroup v1 `memory.limit_in_bytes` and the physical memory
(/proc/meminfo, for a limit set above it), less MASTER_RESERVE_MIB, divided by
WORKER_MEMORY_MB per worker.

WORKER_MEMORY_MB defaults to 64 MiB, three times what a worker of the generated
service holds after a burst of 1 MiB uploads, measured in the image with 2 CPUs (PSS
from /proc/PID/smaps_rollup as bench/procfs.py reads it, then how much the cgroup's
charge grows per worker added): gevent 19-21 MiB PSS and 18-19 MiB of charge,
gthread 14 and 11-14, sync 11 and 8-10. The factor of three leaves room for the
app's own imports and caches to grow before the count needs the variable; a big app
sets its own figure (the PSS of one of its workers under load).{% if cookiecutter.database == "postgresql" %}
With the database stack the default is 96 MiB (settings.py and docs/performance.md
have the measurements).{% endif %}
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
PROC_MEMINFO = Path("/proc/meminfo")
# cgroup v1 mounts the cpu controller under one of these names.
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
MIB = 1024 * 1024
# What the master costs beside its workers: 27-31 MiB charged to the container's
# cgroup (gunicorn, the configuration and the worker class's imports; gevent's are
# the largest), measured, plus one short-lived Python process at a time beside it,
# Docker's HEALTHCHECK probe or a `docker exec ... manage` (36 MiB RSS, measured).
MASTER_RESERVE_MIB = 64
# cgroup v1 writes "no limit" as the largest page-aligned 63-bit number
# (9223372036854771712 with 4 KiB pages); nothing this large is a real limit.
_V1_NO_LIMIT = 2**62


@dataclass(frozen=True)
class CpuShare:
    cpus: int
    source: str  # "cgroup v2 cpu.max", "cgroup v1 cfs quota" or "cpu affinity"


@dataclass(frozen=True)
class MemoryLimit:
    limit: int | None  # bytes; None where no limit could be read
    # "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes", "physical memory"
    # or "no memory limit found"
    source: str


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


def memory_limit(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    meminfo: Path = PROC_MEMINFO,
) -> MemoryLimit:
    """The memory this process's cgroup may use, and which limit decided it."""
    limits: list[tuple[int, str]] = []
    v2 = _tightest(_v2_memory_limits(cgroup_root, proc_self_cgroup))
    if v2 is not None:
        limits.append((v2, "cgroup v2 memory.max"))
    v1 = _tightest(_v1_memory_limits(cgroup_root, proc_self_cgroup))
    if v1 is not None:
        limits.append((v1, "cgroup v1 memory.limit_in_bytes"))
    physical = _physical_memory(meminfo)
    # Listed last so that a limit equal to the physical memory is named as the source.
    if physical is not None:
        limits.append((physical, "physical memory"))
    if not limits:
        return MemoryLimit(None, "no memory limit found")
    value, source = min(limits, key=lambda limit: limit[0])
    return MemoryLimit(value, source)


def worker_count(
    settings: Settings, share: CpuShare | None = None, memory: MemoryLimit | None = None
) -> WorkerCount:
    """WEB_CONCURRENCY if set; else the smallest of WORKERS_PER_CORE x CPU + 1, what the
    memory limit holds at WORKER_MEMORY_MB each, and MAX_WORKERS. The source names the
    limit that decided, then what the others allow."""
    by_memory = _workers_in_memory(settings, memory or memory_limit())
    if settings.web_concurrency is not None:
        source = "environment (WEB_CONCURRENCY)"
        if by_memory is not None and settings.web_concurrency > by_memory[0]:
            # Set explicitly, it wins; the boot line says what it overrode.
            source += f", over the {by_memory[0]} that memory allows ({by_memory[1]})"
        return WorkerCount(settings.web_concurrency, source)
    share = share or cpu_share()
    # (count, what it is called in the source, how it was reached); ties go to the first.
    limits = [
        (
            settings.workers_per_core * share.cpus + 1,
            "cpu",
            f"{share.source}: {share.cpus} cpu x {settings.workers_per_core} + 1",
        )
    ]
    if by_memory is not None:
        limits.append((by_memory[0], "memory", by_memory[1]))
    if settings.max_workers is not None:
        limits.append((settings.max_workers, "MAX_WORKERS", "MAX_WORKERS"))
    workers, name, reached = min(limits, key=lambda limit: limit[0])
    others = ", ".join(f"{other} allows {count}" for count, other, _ in limits if other != name)
    return WorkerCount(workers, f"{reached} ({others})" if others else reached)


def _workers_in_memory(settings: Settings, memory: MemoryLimit) -> tuple[int, str] | None:
    """How many workers fit in the memory limit, and the arithmetic; None without one."""
    if memory.limit is None:
        return None
    reserve = MASTER_RESERVE_MIB
    if settings.preload:
        # The master then imports the app too, about one worker's worth more.
        reserve += settings.worker_memory_mb
    workers = (memory.limit - reserve * MIB) // (settings.worker_memory_mb * MIB)
    reached = (
        f"{memory.source}: ({memory.limit // MIB} - {reserve} reserved) MiB "
        f"/ {settings.worker_memory_mb} MiB per worker (WORKER_MEMORY_MB)"
    )
    if workers < 1:
        return 1, f"{reached}, at least 1"
    return workers, reached


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _tightest(limits: Iterator[float]) -> float | None:
    return min(limits, default=None)


def _physical_memory(meminfo: Path) -> int | None:
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:  # no /proc (macOS)
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemTotal":  # "MemTotal:  24684544 kB"
            kib = value.split()[0] if value.split() else ""
            return int(kib) * 1024 if kib.isdigit() else None
    return None


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


def _v2_memory_limits(root: Path, proc_self_cgroup: Path) -> Iterator[int]:
    relative = _cgroup_paths(proc_self_cgroup).get("")
    for folder in _candidate_dirs(root, relative):
        try:
            value = (folder / "memory.max").read_text().strip()
        except OSError:
            continue
        if value.isdigit():  # "max" means no limit
            yield int(value)


def _v1_memory_limits(root: Path, proc_self_cgroup: Path) -> Iterator[int]:
    relative = next(
        (p for k, p in _cgroup_paths(proc_self_cgroup).items() if "memory" in k.split(",")),
        None,
    )
    mount = root / "memory"
    if not mount.is_dir():
        return
    for folder in _candidate_dirs(mount, relative):
        try:
            value = int((folder / "memory.limit_in_bytes").read_text())
        except (OSError, ValueError):
            continue
        if 0 < value < _V1_NO_LIMIT:
            yield value
{%- if cookiecutter.websockets == "socketio" %}


def socketio_worker_count(settings: Settings, counted: WorkerCount) -> WorkerCount:
    """One worker when Socket.IO has no message queue (REDIS_URL unset): its rooms
    live in one worker's memory, and a broadcast would miss the other workers'
    clients (socketio.py). server_hooks.py logs a WARNING at boot."""
    if settings.socketio_message_queue is None and counted.workers > 1:
        return WorkerCount(
            1, f"one worker: Socket.IO without REDIS_URL (not {counted.workers}: {counted.source})"
        )
    return counted
{%- endif %}
