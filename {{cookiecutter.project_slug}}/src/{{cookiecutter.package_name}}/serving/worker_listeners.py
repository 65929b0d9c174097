"""When each worker gets a listening socket of its own (gunicorn's `reuse_port`).

Gunicorn's workers normally accept from the master's one socket, and whichever
worker is awake first wins. Platform routers keep their connections alive, so the
first burst decides who serves them for minutes: measured on 2 cores (bench/,
README Keep-alive fairness), gthread workers held 25/21/2/2/0 of 50 kept-alive
connections at /io, which cut their throughput from 387 to 222 req/s; gevent
workers left some waiting (p99 352 ms at p50 14 ms on /health).

With `reuse_port`, gunicorn (23+) binds no socket in the master; each worker binds
its own with SO_REUSEPORT to the same address, and the Linux kernel hashes every
new connection onto one of them, as nginx's `reuseport` does.

Only for gthread and gevent on Linux. A sync worker serves one request at a time:
a connection hashed to a busy one would wait while others idle, where the shared
queue hands it to the first free worker. Elsewhere SO_REUSEPORT does not balance
(the last socket bound gets every connection).

The price: connections waiting in a worker's own queue go down with it. If the
worker exits they are reset; if it hangs (a gevent worker stuck on CPU) they wait
until GUNICORN_TIMEOUT replaces it and are then reset, where a shared queue would
hand them to a sibling (tests/serving/test_faults.py measures both). Linux 5.14+ can move
them to a sibling instead, with the sysctl net.ipv4.tcp_migrate_req=1. So it stays
off with GUNICORN_MAX_REQUESTS, which retires workers on purpose all day, and
GUNICORN_REUSE_PORT=false turns it off. A reload (SIGHUP) and a stop are not such
exits: the old workers stop only once the new ones listen (reloads.py), and a
stopping worker takes its queue before it closes its socket (gthread_worker.py,
gevent_worker.py; tests/serving/test_reload.py).
"""

from __future__ import annotations

import sys

# The classes that keep many connections per worker and accept without blocking.
BALANCED_CLASSES = ("gthread", "gevent")


def wanted(enabled: bool, worker_class: str, max_requests: int) -> bool:
    return (
        enabled
        and sys.platform == "linux"
        and worker_class in BALANCED_CLASSES
        and max_requests == 0
    )
