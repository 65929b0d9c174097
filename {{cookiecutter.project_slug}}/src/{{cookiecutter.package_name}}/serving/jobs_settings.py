"""The background jobs' settings: the Redis URL (redis_settings.py), the queues, the
stop bound, retries.

Read through the one reader (settings.Env) by boot_settings(), with the rest of the
environment, before anything connects: the web process needs REDIS_URL to enqueue,
the worker to dequeue. A bad value is one line naming the variable; a URL is shown
with its password replaced by `***`.

Standard library only, like settings.py: gunicorn's master reads this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .redis_settings import redis_tls_verify, redis_url
from .settings import Env, SettingsError

# A queue name: what RQ puts into its Redis keys (rq:queue:NAME), kept to characters
# that need no quoting in a shell, a manifest or a key.
_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class JobSettings:
    # Where the queues live: redis://, rediss:// (TLS, as managed Redis offers) or
    # unix:// (a socket on the same host).
    redis_url: str
    # The queues this worker takes jobs from, first one first; `enqueue` uses the first.
    queues: tuple[str, ...]
    # Seconds a SIGTERM leaves the current job to finish before it goes back to the
    # queue: below every platform's grace after SIGTERM (Cloud Run 10 s, Heroku 30 s,
    # Kubernetes 30 s by default), with 2 s left for the requeue and the exit.
    stop_timeout: int
    # A job that raises runs again this many times, at once, then stays in the failed
    # registry with its traceback (docs/background-jobs.md, "Retries").
    retries: int
    # Seconds a job may run before RQ stops it (its death penalty) and counts a failure.
    job_timeout: int
    # Whether a rediss:// server's certificate is checked (redis_settings.py).
    tls_verify: bool = True


def load_job_settings(environ: Mapping[str, str]) -> JobSettings:
    """Parse and validate the jobs' variables. Raises SettingsError on the first bad one."""
    env = Env(environ)
    return JobSettings(
        redis_url=redis_url(env, required=True),
        queues=queues(env),
        stop_timeout=env.integer("WORKER_STOP_TIMEOUT", 8, minimum=1, maximum=3600),
        retries=env.integer("JOB_RETRIES", 2, minimum=0, maximum=100),
        job_timeout=env.integer("JOB_TIMEOUT", 600, minimum=1),
        tls_verify=redis_tls_verify(env),
    )


def queues(env: Env) -> tuple[str, ...]:
    value = env.text("WORKER_QUEUES", "default")
    names = tuple(part.strip() for part in value.split(","))
    if not all(_QUEUE.match(name) for name in names) or len(set(names)) != len(names):
        raise SettingsError(
            f"WORKER_QUEUES={value!r} is not allowed: expected comma-separated, distinct "
            "queue names of letters, digits, '.', '_' and '-' (high,default)"
        )
    return names
