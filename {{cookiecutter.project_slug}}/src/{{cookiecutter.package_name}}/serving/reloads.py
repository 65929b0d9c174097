"""A reload (SIGHUP, `systemctl reload`) that stops the old workers only once the new ones serve.

gunicorn's reload forks the new workers and sends SIGTERM to the old ones in the same
instant, before the new ones have loaded the app. With one listening socket per
worker (worker_listeners.py) the old sockets could then close before any new one was
listening: measured 8 new connections reset in 3 reloads on gthread. Here the master
waits, after forking them, until every new worker has reported in (its first
heartbeat, sent once it serves), at most GUNICORN_TIMEOUT, the time gunicorn itself
gives a silent worker; only then are the old ones told to stop, and they drain
(gthread_worker.py, gevent_worker.py).

Under systemd it also speaks the reload protocol of sd_notify(3): RELOADING=1 with
MONOTONIC_USEC as the reload starts, READY=1 once the new workers serve, so that
`systemctl reload` returns when the reload is done (deploy/systemd, ExecReload).

What a reload picks up: the app's code, which every new worker imports afresh (not
with GUNICORN_PRELOAD: the master keeps the app it loaded). Not the configuration
module nor the environment: gunicorn re-imports `python:` configuration modules from
the master's module cache, and the master's environment is the one it started with
(docs/serving.md, Reloads).
"""

from __future__ import annotations

import time

from gunicorn import systemd

# How often the master looks at the new workers' heartbeats while it waits.
_POLL_INTERVAL = 0.05


def on_starting(server) -> None:
    """Wrap the master's reload and worker management (called from server_hooks.on_starting)."""
    reload, manage_workers = server.reload, server.manage_workers
    reloading: list[int] = []  # the last worker age before the reload, while one runs

    def reload_when_new_workers_serve():
        systemd.sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}", server.log)
        reloading.append(server.worker_age)
        try:
            reload()
        finally:
            reloading.clear()
            systemd.sd_notify("READY=1", server.log)

    def manage_workers_after_new_ones_serve():
        if reloading:
            _wait_for_new_workers(server, since_age=reloading[0])
        manage_workers()

    server.reload = reload_when_new_workers_serve
    server.manage_workers = manage_workers_after_new_ones_serve


def _wait_for_new_workers(server, since_age: int) -> None:
    """Until every worker forked after `since_age` has sent a heartbeat, or GUNICORN_TIMEOUT.

    A worker that fails to boot exits, and reap_workers halts the master as at boot.
    """
    deadline = time.monotonic() + server.timeout
    while time.monotonic() < deadline:
        server.reap_workers()
        new = [worker for worker in server.WORKERS.values() if worker.age > since_age]
        if not new or all(_has_reported_in(worker) for worker in new):
            return
        time.sleep(_POLL_INTERVAL)


def _has_reported_in(worker) -> bool:
    """Whether the worker has sent its first heartbeat.

    gunicorn creates each worker's heartbeat file with the wall-clock time and the
    worker's heartbeat writes time.monotonic() into it (workertmp.py), which is far
    below any wall-clock time; gunicorn's own timeout check compares it the same way.
    """
    try:
        return worker.tmp.last_update() <= time.monotonic() + 1.0
    except (OSError, ValueError):  # its file is closed: it has exited
        return True
