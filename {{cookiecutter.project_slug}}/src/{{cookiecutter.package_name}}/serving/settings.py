"""The server's environment variables, and the one reader every setting goes through.

`load_settings()` holds what the serving machinery reads (bind address, workers,
logging, the data location). Your application's own values live in `config.py` one
folder up and use the same `Env` reader, so every value, yours and the server's, is
validated the same way, once per boot, by `boot_settings()` in the master before
anything binds: a bad value stops the service with one line that names the variable
and what is allowed (never the value of a secret).

This module imports only the standard library: gunicorn_config.py runs in the master,
and the gevent worker monkey-patches sockets later, in each worker.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
{%- if cookiecutter.database == "postgresql" %}
from typing import TYPE_CHECKING
{%- endif %}

from .metrics_settings import MetricsSettings, load_metrics_settings
from .tracing_settings import TracingSettings, load_tracing_settings
{%- if cookiecutter.database == "postgresql" %}

if TYPE_CHECKING:
    from .database_settings import DatabaseSettings
{%- endif %}

WORKER_CLASSES = ("sync", "gthread", "gevent")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")
# The name traces carry (service.name) unless OTEL_SERVICE_NAME says another.
SERVICE_NAME = "{{ cookiecutter.project_slug }}"
# The cookiecutter answer; GUNICORN_WORKER_CLASS overrides it at deploy time.
DEFAULT_WORKER_CLASS = "{{ cookiecutter.worker_class }}"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Google Cloud project IDs: 6-30 characters, lowercase letters, digits, hyphens; a
# legacy domain-scoped project's behind its domain and a colon (example.com:my-project),
# as Cloud Logging's trace field names it too.
_GCP_PROJECT = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# A URL path prefix: one or more /segment, no trailing slash, characters that need
# no escaping in a URL (so the prefix reads the same in a request and in url_for).
_URL_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
# A TRUSTED_HOSTS entry: a DNS name (a leading dot also takes its subdomains) or an
# IPv4 address; no port, no scheme, no wildcard. No IPv6 address: Werkzeug's check
# cuts each entry and each Host at its first colon, so `[::1]` would never match.
_TRUSTED_HOST = re.compile(r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
# A plain decimal number of seconds: 1, 0.5, 2.25 (no exponent, sign, nan or inf).
_SECONDS = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
# Where each platform names the deployed code, first found first (/status's revision):
# Cloud Run's revision, Railway's, Render's and Heroku's commit (Heroku's needs the
# runtime-dyno-metadata feature), Fly's image reference, and Heroku's build variable
# that buildpacks and some CI systems also set.
REVISION_VARIABLES = (
    "K_REVISION",
    "RAILWAY_GIT_COMMIT_SHA",
    "RENDER_GIT_COMMIT",
    "HEROKU_SLUG_COMMIT",
    "FLY_IMAGE_REF",
    "SOURCE_VERSION",
)
# Longer is not a revision: /status shows at most this much of one.
_REVISION_MAX = 200


class SettingsError(ValueError):
    """A bad environment value. The message is the one line an operator sees."""


@dataclass(frozen=True)
class Settings:
    # Where to listen: a list of gunicorn bind addresses.
    bind: tuple[str, ...]
    # Worker sizing (see worker_sizing.py for how these combine).
    web_concurrency: int | None
    workers_per_core: int
    max_workers: int | None
    worker_memory_mb: int
    # Gunicorn worker behaviour.
    worker_class: str
    threads: int
    worker_connections: int
    timeout: int
    graceful_timeout: int
    keepalive: int
    max_requests: int
    max_requests_jitter: int
    preload: bool
    reuse_port: bool
    control_socket: str | None
    # Logging.
    log_level: str
    log_format: str
    # The one writable folder for the app's files (Flask's instance path).
    data_dir: Path
    # Proxies and hosts: whose forwarding headers count, the prefix the service is
    # mounted under, and the Host values it answers.
    forwarded_allow_ips: tuple[str, ...]
    url_prefix: str | None
    trusted_hosts: tuple[str, ...]
    # Application.
    max_content_length: int
    google_cloud_project: str | None
    # Operations: the slow-request WARNING's threshold (0: off), each readiness
    # check's time limit, and the platform's name for the deployed code (/status).
    slow_request_seconds: float
    ready_check_timeout: float
    revision: str | None
    # Where the Prometheus metrics are served and to whom (metrics_settings.py).
    metrics: MetricsSettings
    # Whether OpenTelemetry traces are exported (tracing_settings.py).
    tracing: TracingSettings
{%- if cookiecutter.database == "postgresql" %}
    # DATABASE_URL and the pool's sizes (database_settings.py); None while unset,
    # which only boot_settings() refuses: tests and scripts may parse without one.
    database: DatabaseSettings | None
{%- endif %}
{%- if cookiecutter.websockets != "no" %}
    # WebSockets (websocket_guard.py, docs/websockets.md).
    websocket_max_per_worker: int
    websocket_ping_interval: int
    websocket_idle_timeout: int
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
    # Socket.IO's message queue (socketio.py): REDIS_URL, the one Redis setting
    # (redis_settings.py); None while unset, and the service then runs one worker.
    socketio_message_queue: str | None
    socketio_redis_tls_verify: bool
{%- endif %}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse and validate the environment. Raises SettingsError on the first bad value."""
    env = Env(environ)
    worker_class = env.choice("GUNICORN_WORKER_CLASS", DEFAULT_WORKER_CLASS, WORKER_CLASSES)
    # gthread serves several requests per process; 4 threads keep a 2-vCPU instance
    # (5 workers) at 20 concurrent requests without oversubscribing the GIL.
    threads = env.integer("GUNICORN_THREADS", 4 if worker_class == "gthread" else 1, minimum=1)
    if threads > 1 and worker_class == "sync":
        # Gunicorn silently turns sync workers with threads > 1 into gthread workers.
        raise SettingsError(
            f"GUNICORN_THREADS={threads!r} needs GUNICORN_WORKER_CLASS=gthread; "
            "sync workers serve one request at a time (use 1, or switch the class)"
        )
    preload = env.boolean("GUNICORN_PRELOAD", False)
    if preload and worker_class == "gevent":
        # Preloading imports the app in the master, before gevent patches the
        # standard library in the worker: sockets and locks made at import time
        # stay unpatched and block the whole worker.
        raise SettingsError(
            "GUNICORN_PRELOAD='true' cannot be used with GUNICORN_WORKER_CLASS=gevent: "
            "the app would be imported before gevent patches the standard library"
        )
    max_requests = env.integer("GUNICORN_MAX_REQUESTS", 0, minimum=0)
    max_requests_jitter = env.integer("GUNICORN_MAX_REQUESTS_JITTER", 0, minimum=0)
    if max_requests_jitter and not max_requests:
        raise SettingsError(
            f"GUNICORN_MAX_REQUESTS_JITTER={max_requests_jitter!r} needs "
            "GUNICORN_MAX_REQUESTS > 0 (jitter spreads the recycling it turns on)"
        )
    worker_connections = env.integer("GUNICORN_WORKER_CONNECTIONS", 1000, minimum=1)
    timeout = env.integer("GUNICORN_TIMEOUT", 30, minimum=0)
    bind = _bind(env)
    return Settings(
        bind=bind,
        web_concurrency=env.integer("WEB_CONCURRENCY", None, minimum=1),
        workers_per_core=env.integer("WORKERS_PER_CORE", 2, minimum=1),
        max_workers=env.integer("MAX_WORKERS", None, minimum=1),
        # MiB per worker for the memory limit's share: 3x a worker of this service
        # under load (worker_sizing.py has the measurements).{% if cookiecutter.database == "postgresql" %}
        # With the database stack each worker added charges the image's cgroup 46-50
        # MiB under load (PSS 50-59; docs/performance.md, Database): SQLAlchemy and
        # psycopg are a fixed ~30 MiB more, so 96 keeps the app's room of about 45
        # MiB instead of tripling the stack; 256 MiB holds 2 workers (3 at 64 peaked
        # at 202 MiB with this starter, and a large app's were OOM-killed).{% endif %}
        worker_memory_mb=env.integer("WORKER_MEMORY_MB", {% if cookiecutter.database == "postgresql" %}96{% else %}64{% endif %}, minimum=1),
        worker_class=worker_class,
        threads=threads,
        worker_connections=worker_connections,
        timeout=timeout,
        graceful_timeout=env.integer("GUNICORN_GRACEFUL_TIMEOUT", 8, minimum=1),
        keepalive=env.integer("GUNICORN_KEEPALIVE", 95, minimum=0),
        max_requests=max_requests,
        max_requests_jitter=max_requests_jitter,
        preload=preload,
        reuse_port=env.boolean("GUNICORN_REUSE_PORT", True),
        control_socket=env.text("GUNICORN_CONTROL_SOCKET", None),
        log_level=env.choice("LOG_LEVEL", "info", LOG_LEVELS, lower=True),
        log_format=env.choice("LOG_FORMAT", "json", LOG_FORMATS, lower=True),
        # The image sets DATA_DIR=/data (group 0, group-writable); elsewhere var/ in
        # the working directory, which .gitignore and .dockerignore leave out.
        data_dir=env.path("DATA_DIR", "var"),
        # gunicorn's own default: only a proxy on this host may say the request was https.
        forwarded_allow_ips=_forwarded_allow_ips(env),
        url_prefix=_url_prefix(env),
        # Unset: every Host is answered (the names are not known before a deploy, and
        # the platforms' routers deliver only the app's own); the deploy files set it.
        trusted_hosts=_trusted_hosts(env),
        max_content_length=env.integer("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1),
        google_cloud_project=env.matching(
            "GOOGLE_CLOUD_PROJECT", _GCP_PROJECT, "a Google Cloud project ID"
        ),
        # A request slower than this logs one WARNING (slow_requests.py): a second is
        # where users notice, and what the seed services warned at.
        slow_request_seconds=env.seconds("SLOW_REQUEST_SECONDS", 1.0, minimum=0.0),
        ready_check_timeout=_ready_check_timeout(env, worker_class, timeout),
        revision=_revision(env),
        metrics=load_metrics_settings(env, bind),
        tracing=load_tracing_settings(env, SERVICE_NAME),
{%- if cookiecutter.database == "postgresql" %}
        database=_database(env, worker_class, threads, worker_connections),
{%- endif %}
{%- if cookiecutter.websockets != "no" %}
        **_websockets(env),
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
        **_socketio(env),
{%- endif %}
    )
{%- if cookiecutter.websockets != "no" %}


def _websockets(env: Env) -> dict[str, int]:
    # Under gevent an open socket costs about 46 KiB (300 took a worker from 39 to 53
    # MiB RSS, docs/websockets.md): 200 take 9 MiB of WORKER_MEMORY_MB's share. On
    # gthread GUNICORN_THREADS - 1 bounds them first (each holds a thread).
    max_per_worker = env.integer("WEBSOCKET_MAX_PER_WORKER", 200, minimum=1)
    # Below every router's idle window: Heroku closes a connection silent for 55 s,
    # ingress-nginx and Google's load balancers after 60 s.
    ping_interval = env.integer("WEBSOCKET_PING_INTERVAL", 25, minimum=0)
    # Two missed pings and a margin: a live client answers each ping at once.
    idle_timeout = env.integer("WEBSOCKET_IDLE_TIMEOUT", 60, minimum=0)
    if ping_interval and idle_timeout and idle_timeout <= ping_interval:
        raise SettingsError(
            f"WEBSOCKET_IDLE_TIMEOUT={idle_timeout!r} is not allowed with "
            f"WEBSOCKET_PING_INTERVAL={ping_interval!r}: expected more seconds than the "
            "ping interval (a live client is heard from once per ping), or 0 for none"
        )
    return {
        "websocket_max_per_worker": max_per_worker,
        "websocket_ping_interval": ping_interval,
        "websocket_idle_timeout": idle_timeout,
    }
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}


def _socketio(env: Env) -> dict[str, object]:
    # Imported here: redis_settings.py imports Env and SettingsError from this module.
    from .redis_settings import redis_tls_verify, redis_url

    return {
        "socketio_message_queue": redis_url(env, required=False),
        "socketio_redis_tls_verify": redis_tls_verify(env),
    }
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


def require_database(settings: Settings) -> None:
    """The service, its release step and its commands do not run without a database."""
    if settings.database is None:
        raise SettingsError(
            "DATABASE_URL is not set: set DATABASE_URL (postgresql://USER:PASSWORD@HOST:5432/DB), "
            "or DATABASE_URL_FILE to a file holding it"
        )


def _database(
    env: Env, worker_class: str, threads: int, worker_connections: int
) -> DatabaseSettings | None:
    # Imported here: database_settings.py imports SettingsError from this module.
    from .database_settings import load_database_settings

    return load_database_settings(env, worker_class, threads, worker_connections)
{%- endif %}


# This boot's settings, once boot_settings() has read them, and when it read them
# (the master's start, for /status: time.time() seconds).
_boot: Settings | None = None
_boot_time: float | None = None
{%- if cookiecutter.background_jobs == "rq" %}
# This boot's background jobs' settings (jobs_settings.py), read with the rest.
_boot_jobs = None
{%- endif %}


def boot_settings() -> Settings:
    """The whole environment, the server's settings and your config.py, read and
    validated once per boot; a bad value is one line on stderr and exit code 2.

    The first call reads: start.py's, before gunicorn runs, or gunicorn_config.py's
    under a plain `gunicorn` (the project's gunicorn.conf.py). Every later call returns
    the same settings: gunicorn's config module and logger in the master, and each
    worker, which inherits them with the master's memory when it is forked. So a worker
    reads nothing again: what it would read is the environment it inherited, already
    validated. Only your create_app() reads config.py again in each worker: it is your
    factory, which tests and `flask` also call, and it cannot fail where the master's
    check passed.
    """
    global _boot, _boot_time
    if _boot is None:
        from {{ cookiecutter.package_name }}.config import load_config

        settings = or_exit(load_settings, os.environ)
{%- if cookiecutter.database == "postgresql" %}
        or_exit(require_database, settings)
{%- endif %}
        or_exit(load_config, os.environ)
{%- if cookiecutter.background_jobs == "rq" %}
        # REDIS_URL and the queues, before anything connects to Redis.
        from .jobs_settings import load_job_settings

        global _boot_jobs
        _boot_jobs = or_exit(load_job_settings, os.environ)
{%- endif %}
        _boot, _boot_time = settings, time.time()
    return _boot


def boot_time() -> float | None:
    """When this boot read its settings: in the service, the master's start (a worker
    inherits it); None outside a boot (tests, `flask`)."""
    return _boot_time if _boot is not None else None


def current_settings() -> Settings:
    """This boot's settings in the service; outside one (tests, `flask --app`, bench
    scripts), the environment as it is now, read on each call: tests change it."""
    return _boot if _boot is not None else load_settings(os.environ)
{%- if cookiecutter.background_jobs == "rq" %}


def current_job_settings():
    """This boot's background jobs' settings; outside one, the environment's now.

    A boot is `_boot` being set, as for current_settings(): a test that undoes a boot
    (resetting `_boot`) undoes this one too.
    """
    from .jobs_settings import load_job_settings

    booted = _boot is not None and _boot_jobs is not None
    return _boot_jobs if booted else load_job_settings(os.environ)
{%- endif %}


def or_exit(load, environ: Mapping[str, str]):
    """`load(environ)`, turning a SettingsError into one line on stderr and exit code 2."""
    try:
        return load(environ)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _bind(env: Env) -> tuple[str, ...]:
    bind = env.text("BIND", None)
    if bind is not None:
        addresses = tuple(part.strip() for part in bind.split(","))
        for address in addresses:
            if address.startswith(("unix:", "fd://")):
                continue
            host, _, port = address.rpartition(":")
            # isascii: str.isdigit() takes '²' and other digits int() refuses.
            if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
                raise SettingsError(
                    f"BIND={bind!r} is not allowed: expected comma-separated HOST:PORT, "
                    "unix:PATH or fd://FD addresses, ports 1-65535"
                )
        return addresses
    port = env.integer("PORT", 8080, minimum=1, maximum=65535)
    host = env.text("HOST", None)
    if host is None:
        return (f"{default_host()}:{port}",)
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise SettingsError(
            f"HOST={host!r} is not allowed: expected an IPv4 or IPv6 address "
            "such as 0.0.0.0, 127.0.0.1 or [::]"
        ) from None
    return (f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}",)


def _forwarded_allow_ips(env: Env) -> tuple[str, ...]:
    value = env.text("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    entries = tuple(part.strip() for part in value.split(","))
    for entry in entries:
        if entry == "*" and len(entries) == 1:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                f"FORWARDED_ALLOW_IPS={value!r} is not allowed: expected comma-separated "
                "IP addresses or networks (10.0.0.0/8), or * alone for any address"
            ) from None
    return entries


def _ready_check_timeout(env: Env, worker_class: str, timeout: int) -> float:
    # 2 s: under the 3 s the template's Kubernetes readinessProbe waits for an answer
    # (Cloud Run, Fly, Render, Railway and the image's HEALTHCHECK probe /health only),
    # so a hung dependency is answered as a named failure, not a probe that timed out.
    default = 2.0
    if worker_class == "sync" and timeout:
        # A sync worker waits for the checks in its one thread, heartbeat stopped: with
        # a GUNICORN_TIMEOUT that short, half of it, so the default is never refused.
        default = min(default, timeout / 2)
    seconds = env.seconds("READY_CHECK_TIMEOUT", default, minimum=0.1)
    if worker_class == "sync" and timeout and seconds >= timeout:
        # A sync worker waits for /ready's checks in its one thread, and is killed
        # after GUNICORN_TIMEOUT s without a heartbeat.
        raise SettingsError(
            f"READY_CHECK_TIMEOUT={env.text('READY_CHECK_TIMEOUT', '')!r} is not allowed: "
            f"expected fewer seconds than GUNICORN_TIMEOUT ({timeout}) with sync workers"
        )
    return seconds


def _revision(env: Env) -> str | None:
    for name in REVISION_VARIABLES:
        value = env.text(name, None)
        if value is not None:
            return value[:_REVISION_MAX]
    return None


def _url_prefix(env: Env) -> str | None:
    if env.text("SCRIPT_NAME", None) is not None:
        # gunicorn reads SCRIPT_NAME from its environment itself and answers 500 to
        # every path outside it, health checks included.
        raise SettingsError(
            "SCRIPT_NAME is set: unset it and set URL_PREFIX instead "
            "(gunicorn would answer 500 to every path outside it)"
        )
    return env.matching(
        "URL_PREFIX", _URL_PREFIX, "a path such as /api or /shop/v1 (no trailing slash)"
    )


def _trusted_hosts(env: Env) -> tuple[str, ...]:
    value = env.text("TRUSTED_HOSTS", None)
    if value is None:
        return ()
    entries = tuple(part.strip().lower() for part in value.split(","))
    for entry in entries:
        if ":" in entry:
            raise SettingsError(
                f"TRUSTED_HOSTS={value!r} is not allowed: {entry!r} is an IPv6 address or "
                "has a port; list host names and IPv4 addresses only (probes need no entry: "
                "/health and /ready answer any Host)"
            )
        if not _TRUSTED_HOST.match(entry):
            raise SettingsError(
                f"TRUSTED_HOSTS={value!r} is not allowed: expected comma-separated host "
                "names without scheme or port (api.example.com), .example.com for a "
                "domain and its subdomains, or IPv4 addresses"
            )
    return entries


def default_host() -> str:
    """`[::]` where the kernel has IPv6, else `0.0.0.0`.

    A dual-stack `[::]` socket also accepts IPv4, and Railway's private network is
    IPv6-only; but binding `[::]` fails outright where IPv6 is disabled.
    """
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
    except OSError:
        return "0.0.0.0"
    return "[::]"


class Env:
    """Reads one variable at a time and turns a bad value into a SettingsError.

    The one reader of the environment, for the server's settings and your config.py.
    An empty variable counts as unset: platforms often render unset values as "".
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str | None) -> str | None:
        value = self._raw(name)
        return default if value is None else value

    def integer(
        self,
        name: str,
        default: int | None,
        *,
        minimum: int,
        maximum: int | None = None,
    ) -> int | None:
        value = self._raw(name)
        if value is None:
            return default
        allowed = (
            f"a whole number from {minimum} to {maximum}"
            if maximum
            else (f"a whole number, {minimum} or more")
        )
        try:
            number = int(value, 10)
        except ValueError:
            raise SettingsError(f"{name}={value!r} is not allowed: expected {allowed}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise SettingsError(f"{name}={value!r} is not allowed: expected {allowed}")
        return number

    def seconds(self, name: str, default: float, *, minimum: float) -> float:
        """A duration as a plain decimal number of seconds, `minimum` or more."""
        value = self._raw(name)
        if value is None:
            return default
        allowed = f"a number of seconds, {minimum:g} or more (such as 0.5 or 2)"
        if not _SECONDS.match(value) or float(value) < minimum:
            raise SettingsError(f"{name}={value!r} is not allowed: expected {allowed}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise SettingsError(
            f"{name}={value!r} is not allowed: expected one of {', '.join(_TRUE + _FALSE)}"
        )

    def choice(self, name: str, default: str, choices: tuple[str, ...], lower: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        candidate = value.lower() if lower else value
        if candidate not in choices:
            raise SettingsError(
                f"{name}={value!r} is not allowed: expected one of {', '.join(choices)}"
            )
        return candidate

    def matching(self, name: str, pattern: re.Pattern[str], what: str) -> str | None:
        value = self._raw(name)
        if value is not None and not pattern.match(value):
            raise SettingsError(f"{name}={value!r} is not allowed: expected {what}")
        return value

    def path(self, name: str, default: str) -> Path:
        """A folder, made absolute against the working directory at start."""
        value = self._raw(name) or default
        if "\x00" in value:
            raise SettingsError(f"{name}={value!r} is not allowed: expected a folder path")
        return Path(os.path.abspath(value))

    def secret(self, name: str, *, required: bool, min_length: int = 0) -> str | None:
        """A secret from NAME, or from the file NAME_FILE names (a mounted secret).

        Errors name the variable, never the value. Trailing newlines of a file are
        dropped: `echo KEY > file` and most secret managers write one.
        """
        file_name = f"{name}_FILE"
        value, path = self._raw(name), self._raw(file_name)
        if value is not None and path is not None:
            raise SettingsError(f"{name} and {file_name} are both set: set only one of them")
        if path is not None:
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or type(error).__name__
                raise SettingsError(f"{file_name}={path!r} cannot be read: {reason}") from None
            if not value.strip():
                raise SettingsError(f"{file_name}={path!r} names an empty file")
        if value is None:
            if required:
                raise SettingsError(
                    f"{name} is not set: set {name}, or {file_name} to a file holding it"
                )
            return None
        if len(value) < min_length:
            raise SettingsError(
                f"{name} is too short ({len(value)} characters): use at least {min_length} "
                "random characters, e.g. from python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value
