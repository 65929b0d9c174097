"""What the benchmark reads about a gunicorn process tree from /proc (Linux only)."""

from __future__ import annotations

import os
import re
from pathlib import Path

_SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")
_ESTABLISHED = "01"


def children(pid: int) -> list[int]:
    """Direct children of `pid` (for gunicorn's master: its workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids = [pid]
    for child in children(pid):
        pids.extend(tree(child))
    return pids


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """RSS and PSS summed over `pids`, in KiB.

    PSS splits each shared page among the processes that map it, so the sum is what
    the tree really costs; RSS counts shared pages (the interpreter, preloaded code)
    once per process and overstates it.
    """
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # the process exited meanwhile
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name == "Rss":
                rss += int(value.split()[0])
            elif name == "Pss":
                pss += int(value.split()[0])
    return rss, pss


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time summed over `pids` and the children they have
    reaped, in seconds: a worker that exits meanwhile still counts, in its master."""
    ticks = 0
    for pid in pids:
        try:
            # After the command name, which may hold spaces.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process is gone
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_seconds(pids: list[int]) -> float:
    """Time the threads of `pids` ran on a CPU, in seconds, to the nanosecond.

    From each thread's schedstat (the scheduler's own count), where /proc/PID/stat
    rounds each process down to 10 ms ticks: over 6 processes read before and after a
    2 s load, up to 60 ms, 10 µs a request at 3,000 req/s (30 at sync's 1,000), the
    size of the costs the cost section looks for. Threads that exited meanwhile are
    not counted (gunicorn's workers keep theirs).
    """
    nanoseconds = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                nanoseconds += int(stat.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread is gone
    return nanoseconds / 1e9


def connections_per_worker(master: int, port: int) -> list[int]:
    """Established client connections each worker holds on `port`, busiest first."""
    established = _established_inodes(port)
    counts = []
    for worker in children(master):
        held = 0
        fd_dir = Path(f"/proc/{worker}/fd")
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in descriptors:
            try:
                link = _SOCKET_LINK.match(os.readlink(fd_dir / fd))
            except OSError:
                continue
            if link and link.group(1) in established:
                held += 1
        counts.append(held)
    return sorted(counts, reverse=True)


def _established_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rpartition(":")[2], 16)
            if local_port == port and fields[3] == _ESTABLISHED:
                inodes.add(fields[9])
    return inodes
