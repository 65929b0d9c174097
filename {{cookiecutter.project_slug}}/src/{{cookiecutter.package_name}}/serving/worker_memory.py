"""Each worker's own memory, against WORKER_MEMORY_MB: a WARNING before the limit kills.

worker_sizing.py fits the worker count into the memory limit at WORKER_MEMORY_MB per
worker. A worker that grows past that figure (a big app, a cache, a leak) is what
the kernel's OOM killer ends, without a word in the service's log. So a worker reads
its memory once booted, the app loaded (server_hooks.post_worker_init: an app too big
for its budget is told of before its first request, and the metric has a value from
the start), then after a request (server_hooks.post_request) at most once every
SAMPLE_SECONDS, and says once, when it first passes the budget, which worker, how
much and what to set. The reading also feeds worker_memory_bytes (metrics.py).

The figure is PSS from /proc/self/smaps_rollup: the pages it shares with the master
and the other workers counted in shares, as the cgroup charges them, and the figure
WORKER_MEMORY_MB means. Where the kernel lacks that file, RSS from /proc/self/statm
(larger: shared pages counted whole). Neither exists outside Linux: nothing is read.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# smaps_rollup walks the process's page tables: 0.1-1 ms for a worker. Every 5 s
# that is nothing beside the requests, and a worker growing toward the limit
# grows over many seconds, so the warning still comes first; statm alone would
# be cheaper but counts the master's shared pages in every worker.
SAMPLE_SECONDS = 5.0
_SMAPS_ROLLUP = "/proc/self/smaps_rollup"
_STATM = "/proc/self/statm"


class _Sampler:
    next_at = 0.0
    warned = False


_sampler = _Sampler()


def own_memory() -> tuple[int, str] | None:
    """(bytes, "PSS" or "RSS") of this process, or None where /proc has neither."""
    try:
        with open(_SMAPS_ROLLUP, "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024, "PSS"
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(_STATM, "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), "RSS"
    except (OSError, ValueError, IndexError):
        return None


def at_boot(budget_mb: int, metrics_enabled: bool) -> None:
    """Once, in a booted worker. The first request is read as well: what it loads
    (caches, lazy imports) is often the most a worker grows."""
    _sample(budget_mb, metrics_enabled)


def after_request(budget_mb: int, metrics_enabled: bool) -> None:
    """Called after each request; reads memory at most once every SAMPLE_SECONDS."""
    now = time.monotonic()
    if now < _sampler.next_at:
        return
    _sampler.next_at = now + SAMPLE_SECONDS
    _sample(budget_mb, metrics_enabled)


def _sample(budget_mb: int, metrics_enabled: bool) -> None:
    reading = own_memory()
    if reading is None:
        return
    used, kind = reading
    if metrics_enabled:
        from .metrics import WORKER_MEMORY

        WORKER_MEMORY.set(used)
    if not _sampler.warned and used > budget_mb * MIB:
        _sampler.warned = True
        log.warning(
            "worker %d uses %d MiB (%s), over its budget WORKER_MEMORY_MB=%d: the worker "
            "count assumes %d MiB per worker, so the memory limit may kill workers. Set "
            "WORKER_MEMORY_MB to what a worker really uses (python -m %s.serving.measure_memory "
            "measures it), or lower WEB_CONCURRENCY",
            os.getpid(),
            used // MIB,
            kind,
            budget_mb,
            budget_mb,
            __name__.split(".")[0],
            extra={"worker_pid": os.getpid(), "memory_mib": used // MIB, "budget_mib": budget_mb},
        )


def reset() -> None:
    """For tests: the sampler is per process."""
    _sampler.next_at, _sampler.warned = 0.0, False
