"""The background jobs' settings: the Redis URL, the queues, the stop bound, retries.

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
from urllib.parse import urlsplit, urlunsplit

from .settings import Env, SettingsError

REDIS_SCHEMES = ("redis", "rediss", "unix")
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
    # Whether a rediss:// server's certificate is checked (and its host name). Off only
    # for a managed Redis that serves a self-signed certificate, as Heroku Key-Value
    # Store does: the link stays encrypted, the server unauthenticated.
    tls_verify: bool = True


def load_job_settings(environ: Mapping[str, str]) -> JobSettings:
    """Parse and validate the jobs' variables. Raises SettingsError on the first bad one."""
    env = Env(environ)
    return JobSettings(
        redis_url=redis_url(env),
        queues=queues(env),
        stop_timeout=env.integer("WORKER_STOP_TIMEOUT", 8, minimum=1, maximum=3600),
        retries=env.integer("JOB_RETRIES", 2, minimum=0, maximum=100),
        job_timeout=env.integer("JOB_TIMEOUT", 600, minimum=1),
        tls_verify=env.boolean("REDIS_TLS_VERIFY", True),
    )


def redis_url(env: Env) -> str:
    # A secret: it may hold a password (REDIS_URL_FILE reads it from a mounted file).
    url = env.secret("REDIS_URL", required=True)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        parts, port = None, None
    allowed = (
        "expected redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS) "
        "or unix:///PATH/TO/SOCKET"
    )
    if parts is None or parts.scheme not in REDIS_SCHEMES:
        raise SettingsError(f"REDIS_URL={redacted(url)!r} is not allowed: {allowed}")
    if parts.scheme == "unix":
        if not parts.path:
            raise SettingsError(f"REDIS_URL={redacted(url)!r} is not allowed: {allowed}")
        return url
    if not parts.hostname or (port is not None and not 1 <= port <= 65535):
        raise SettingsError(f"REDIS_URL={redacted(url)!r} is not allowed: {allowed}")
    database = parts.path.lstrip("/")
    if database and not (database.isascii() and database.isdigit()):
        raise SettingsError(
            f"REDIS_URL={redacted(url)!r} is not allowed: the database after the host "
            "is a number (/0 to /15 on a default server)"
        )
    return url


def queues(env: Env) -> tuple[str, ...]:
    value = env.text("WORKER_QUEUES", "default")
    names = tuple(part.strip() for part in value.split(","))
    if not all(_QUEUE.match(name) for name in names) or len(set(names)) != len(names):
        raise SettingsError(
            f"WORKER_QUEUES={value!r} is not allowed: expected comma-separated, distinct "
            "queue names of letters, digits, '.', '_' and '-' (high,default)"
        )
    return names


def redacted(url: str) -> str:
    """`url` with its password, if any, replaced by `***`: safe for a log line."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<not a URL>"
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
