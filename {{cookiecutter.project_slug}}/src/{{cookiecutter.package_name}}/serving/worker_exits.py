"""Why each worker exited, told by the master: counted, and an ERROR line for SIGKILL.

gunicorn reaps a worker and then calls child_exit, without the exit status. So while
gunicorn's reap_workers runs, the master's os.waitpid is one that notes each status
it returns (the master is one thread, and the loop calls nothing else that waits);
peeking with waitid(WNOWAIT) before the loop missed a worker that died during it.
The master also notes which workers it told to stop itself. The
reason, for worker_exits_total{reason,signal} (metrics_files.archive_worker adds it
with the worker's files, in one step):

- normal: it exited 0 after the master told it to stop (a stop, a reload, fewer workers);
- recycled: it exited 0 untold: GUNICORN_MAX_REQUESTS reached;
- timeout: the master aborted it after GUNICORN_TIMEOUT without a heartbeat;
- oom: SIGKILL, and the cgroup's oom_kill count rose (memory.events in cgroup v2,
  memory.oom_control in v1): the kernel's OOM killer. `docker inspect` says
  OOMKilled=false when it killed a worker and not PID 1, so this count is the sign;
- signal: killed by another signal, or by a SIGKILL that was not the OOM killer's;
- error: any other exit code (an exception that ended the worker).

A worker killed by SIGKILL gets an ERROR line: memory when oom_kill rose or the
cgroup's memory was near its limit, with what to set; otherwise who else sends it.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from .worker_sizing import CGROUP_ROOT, PROC_SELF_CGROUP, _candidate_dirs, _cgroup_paths

log = logging.getLogger("gunicorn.error")

EXITS_NAME = "worker_exits"
EXITS_HELP = "gunicorn workers exited, by reason (and signal)"
EXITS_LABELS = ("reason", "signal")
# "Near the limit": a SIGKILL with the cgroup's peak this close to its limit is
# memory's doing even where no oom_kill count exists (old kernels, some platforms).
NEAR_LIMIT = 0.9


class ExitWatch:
    """The master's notes between a worker's death and its child_exit."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}  # pid: its wait status
        self.told: set[int] = set()  # pids the master sent a stop or kill signal
        self.oom_kills = oom_kill_count()


_watch: ExitWatch | None = None


def watch(server) -> None:
    """In the master (on_starting): note exit statuses and the master's own kills."""
    global _watch
    _watch = ExitWatch()
    reap, kill = server.reap_workers, server.kill_worker

    def noting_reap():
        waitpid = os.waitpid

        def noting_waitpid(pid, options):
            reaped, status = waitpid(pid, options)
            if reaped:
                _watch.statuses[reaped] = status
            return reaped, status

        os.waitpid = noting_waitpid
        try:
            return reap()
        finally:
            os.waitpid = waitpid

    def noted_kill(pid, sig):
        _watch.told.add(pid)
        return kill(pid, sig)

    server.reap_workers, server.kill_worker = noting_reap, noted_kill


def reason_of(worker, status: int | None, told: bool, oom: bool) -> tuple[str, str]:
    """(reason, signal name or "") for an exited worker and its wait status."""
    if getattr(worker, "aborted", False):
        return "timeout", ""
    if status is None:
        return "unknown", ""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGKILL and oom and not told:
            return "oom", _signal_name(number)
        return "signal", _signal_name(number)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return ("normal" if told else "recycled"), ""
    return "error", ""


def child_exit(server, worker, metrics_enabled: bool) -> None:
    """In the master, after gunicorn reaped `worker`."""
    watch_ = _watch or ExitWatch()
    pid = worker.pid
    status = watch_.statuses.pop(pid, None)
    told = pid in watch_.told
    watch_.told.discard(pid)
    oom = False
    killed = status is not None and os.WIFSIGNALED(status)
    if killed and os.WTERMSIG(status) == signal.SIGKILL and not told:
        count = oom_kill_count()
        oom = count is not None and watch_.oom_kills is not None and count > watch_.oom_kills
        watch_.oom_kills = count
        _explain_sigkill(server, pid, oom, counted=count is not None)
    reason, signal_name = reason_of(worker, status, told, oom)
    if metrics_enabled:
        from prometheus_client.mmap_dict import mmap_key

        from .metrics_files import archive_worker

        key = mmap_key(
            EXITS_NAME, f"{EXITS_NAME}_total", list(EXITS_LABELS), [reason, signal_name], EXITS_HELP
        )
        archive_worker(pid, {key: 1.0})


def _explain_sigkill(server, pid: int, oom: bool, counted: bool) -> None:
    from .settings import boot_settings

    settings = boot_settings()
    package = __name__.split(".")[0]
    advice = (
        f"set WORKER_MEMORY_MB to what a worker really uses (python -m {package}.serving."
        f"measure_memory measures it; now {settings.worker_memory_mb}), which lowers the "
        f"worker count to what the limit holds, or lower WEB_CONCURRENCY (now {server.num_workers} "
        "workers), or raise the memory limit"
    )
    peak, limit = memory_peak_and_limit()
    near = peak is not None and limit is not None and peak >= NEAR_LIMIT * limit
    if oom or near or not counted:
        if oom:
            cause = "the kernel's OOM killer (the cgroup's oom_kill count rose)"
        elif near:
            cause = f"likely memory: the cgroup peaked at {peak // 2**20} of {limit // 2**20} MiB"
        else:  # no count to tell by: memory is what kills a worker most often
            cause = "likely memory (this host keeps no oom_kill count to tell by)"
        log.error(
            "worker %d was killed by SIGKILL: %s. The workers need more memory than the "
            "limit holds: %s",
            pid,
            cause,
            advice,
            extra={"worker_pid": pid, "oom_kill": oom},
        )
    else:
        log.error(
            "worker %d was killed by SIGKILL, not by the OOM killer (the cgroup's oom_kill "
            "count did not rise): something outside the service sent it (an operator, a "
            "platform stopping the instance). If memory is short nonetheless: %s",
            pid,
            advice,
            extra={"worker_pid": pid, "oom_kill": False},
        )


def oom_kill_count(
    cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> int | None:
    """The cgroup's count of processes the OOM killer ended; None where none is kept."""
    paths = _cgroup_paths(proc_self_cgroup)
    v1 = next((p for k, p in paths.items() if "memory" in k.split(",")), None)
    places = [(folder, "memory.events") for folder in _candidate_dirs(cgroup_root, paths.get(""))]
    places += [
        (folder, "memory.oom_control") for folder in _candidate_dirs(cgroup_root / "memory", v1)
    ]
    for folder, name in places:
        try:
            text = (folder / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            if field == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def memory_peak_and_limit(
    cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> tuple[int | None, int | None]:
    """The cgroup's peak memory and its limit, in bytes, where the files exist."""
    paths = _cgroup_paths(proc_self_cgroup)
    v1 = next((p for k, p in paths.items() if "memory" in k.split(",")), None)
    candidates = [
        (folder, "memory.peak", "memory.max")
        for folder in _candidate_dirs(cgroup_root, paths.get(""))
    ] + [
        (folder, "memory.max_usage_in_bytes", "memory.limit_in_bytes")
        for folder in _candidate_dirs(cgroup_root / "memory", v1)
    ]
    for folder, peak_name, limit_name in candidates:
        try:
            peak = int((folder / peak_name).read_text())
            limit = int((folder / limit_name).read_text())
        except (OSError, ValueError):
            continue
        return peak, limit if limit < 2**62 else None
    return None, None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"
