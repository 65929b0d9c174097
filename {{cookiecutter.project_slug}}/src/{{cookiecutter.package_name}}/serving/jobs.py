"""Enqueue a background job from a view in one line: `enqueue(export_posts, user_id)`.

The job runs in the worker process (`python -m {{ cookiecutter.package_name }} worker`,
job_worker.py). What this adds to RQ's own enqueue: the connection from this boot's
REDIS_URL, one per process (made on first use, so after gunicorn forks: a socket is
never shared by two processes), the retry policy of JOB_RETRIES and JOB_TIMEOUT, and
the id of the request that enqueued the job in the job's meta, so the worker's log
lines for it carry that id too.
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from .jobs_settings import JobSettings
from .logging_setup import request_id_var

# The job's meta key for the id of the request that enqueued it.
REQUEST_ID_META = "request_id"
# Seconds RQ keeps a finished job's return value (RQ's own default, stated here).
RESULT_TTL = 500
# Seconds for a connection or a command to a Redis that does not answer: a view that
# enqueues fails with a clear error inside a request's time, rather than hanging.
SOCKET_TIMEOUT = 5

# (pid, settings, connection): remade in a forked child.
_connection: tuple[int, JobSettings, Redis] | None = None


def job_settings() -> JobSettings:
    from .settings import current_job_settings

    return current_job_settings()


def redis_connection() -> Redis:
    """This process's connection to REDIS_URL (redis-py pools its sockets)."""
    global _connection
    settings = job_settings()
    if _connection is None or _connection[0] != os.getpid() or _connection[1] != settings:
        tls = {}
        if settings.redis_url.startswith("rediss://") and not settings.tls_verify:
            # REDIS_TLS_VERIFY=no: a self-signed certificate (Heroku Key-Value Store).
            tls = {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
        client = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=SOCKET_TIMEOUT,
            # Commands that block (the worker's BLPOP) set their own timeout.
            socket_timeout=None,
            health_check_interval=30,
            retry_on_timeout=True,
            **tls,
        )
        _connection = (os.getpid(), settings, client)
    return _connection[2]


def queue(name: str | None = None) -> Queue:
    """The queue `name`, or the first of WORKER_QUEUES."""
    settings = job_settings()
    return Queue(name or settings.queues[0], connection=redis_connection())


def enqueue(func, *args, queue_name: str | None = None, **kwargs) -> Job:
    """Run `func(*args, **kwargs)` in the worker; returns RQ's Job (job.id to look it up).

    `func` must be importable by the worker (a function at the top of a module of your
    package, such as jobs.py), and its arguments picklable: pass ids, not objects.
    """
    settings = job_settings()
    retry = Retry(max=settings.retries) if settings.retries else None
    return queue(queue_name).enqueue(
        func,
        args=args,
        kwargs=kwargs,
        retry=retry,
        job_timeout=settings.job_timeout,
        result_ttl=RESULT_TTL,
        meta={REQUEST_ID_META: request_id_var.get()},
    )


def fetch(job_id: str) -> Job | None:
    """The job with this id, or None once it has expired (or never existed)."""
    from rq.exceptions import NoSuchJobError

    try:
        return Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return None
