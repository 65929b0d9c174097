"""A WARNING when the app started a scheduler inside a gunicorn worker.

Every worker loads the app, so a scheduler started by it (in create_app, or when a
module is imported) runs once per worker: with five workers every job fires five
times, and again in each replacement worker gunicorn forks. One scheduler is the
platform's, running `python -m {{ cookiecutter.package_name }} manage COMMAND` as a
process of its own (docs/scheduled-jobs.md).

server_hooks.post_worker_init calls `warn_of_in_process_schedulers` once the worker
has loaded the app, so a worker logs one WARNING per scheduler it finds (N workers,
N lines). What it finds, by what each library leaves behind:

- APScheduler 3's BackgroundScheduler (Flask-APScheduler's default too): a running
  thread named "APScheduler", the name its start() gives the thread;
- the `schedule` library: jobs registered on its default scheduler (a thread of the
  app's own calls run_pending; the jobs are the sign).

A scheduler that leaves neither (APScheduler's GeventScheduler, a greenlet; a
thread of the app's own named otherwise) is not found. With GUNICORN_PRELOAD the
master loads the app: a thread it starts stays in the master (a fork copies no
thread) and is not reported, while `schedule`'s jobs, copied into each worker, are.
Standard library only, and nothing is imported: a library the app did not import is
not looked at.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from types import ModuleType

DOCS = "docs/scheduled-jobs.md"
# The thread name APScheduler 3's BackgroundScheduler.start() gives its loop.
APSCHEDULER_THREAD = "APScheduler"


def in_process_schedulers(
    threads: Iterable[threading.Thread] | None = None,
    modules: Mapping[str, ModuleType] | None = None,
) -> list[str]:
    """What runs a schedule in this process, one description each."""
    threads = threading.enumerate() if threads is None else threads
    modules = sys.modules if modules is None else modules
    found = [
        f"APScheduler's BackgroundScheduler (thread {thread.name!r})"
        for thread in threads
        if thread.name == APSCHEDULER_THREAD and thread.is_alive()
    ]
    schedule = modules.get("schedule")
    jobs = getattr(getattr(schedule, "default_scheduler", None), "jobs", None)
    if isinstance(jobs, list) and jobs:
        found.append(f"the schedule library ({len(jobs)} jobs registered)")
    return found


def warn_of_in_process_schedulers(log, worker_count: int) -> None:
    """One WARNING per scheduler this worker runs, naming it and the way out."""
    for scheduler in in_process_schedulers():
        log.warning(
            "%s runs inside this gunicorn worker: with %d workers each job fires %d "
            "times. Run it once, from the platform's scheduler, as "
            "`python -m {{ cookiecutter.package_name }} manage COMMAND` (%s)",
            scheduler,
            worker_count,
            worker_count,
            DOCS,
            extra={
                "scheduler": scheduler,
                "pid": os.getpid(),
                "workers": worker_count,
                "docs": DOCS,
            },
        )
