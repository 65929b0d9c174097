"""DATABASE_URL and the pool's sizes: read and checked at boot, with the standard library.

settings.py calls `load_database_settings()` with the rest of the environment, in the
master, before anything binds: a wrong scheme, a missing host or database name, or a
driver that is not installed stops the service with one line naming DATABASE_URL
(its password shown as ***). Nothing here imports SQLAlchemy or the driver: the
master must not (the gevent worker patches the standard library after the fork, and
a driver imported before would keep blocking sockets), and a down database must not
delay the boot. database.py builds the engine from these values in each worker.

The pool, per worker process (docs/database.md has the table and the reasons):

- sync: 1, a worker serves one request at a time;
- gthread: GUNICORN_THREADS, one connection per thread, never a wait;
- gevent: 10, far below the 1000 greenlets a worker may hold: the server's
  connections are the scarce thing (PostgreSQL's default max_connections is 100, a
  backend process each), so greenlets beyond 10 queue for DB_POOL_TIMEOUT and then
  get 503.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .settings import Env

# What each accepted scheme becomes, for SQLAlchemy: psycopg 3 unless psycopg2 is
# asked for by name. postgres:// is what Heroku, Render and Fly hand out; SQLAlchemy
# refuses it.
SCHEMES = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg2",
}
# The module each dialect imports, and the distribution that provides it.
DRIVERS = {
    "postgresql+psycopg": ("psycopg", "psycopg[binary]"),
    "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
}
URL_FORM = (
    "postgresql://USER:PASSWORD@HOST:5432/DATABASE, or through a unix socket "
    "postgresql://USER:PASSWORD@/DATABASE?host=/cloudsql/PROJECT:REGION:INSTANCE"
)
# A host name or an IPv4 address; IPv6 comes in brackets, which urlsplit removes. `_`
# is allowed: compose service names and some internal DNS names carry it.
_HOST = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^[0-9a-fA-F:.]+$")
# gevent's pool: see above.
GEVENT_POOL_SIZE = 10


@dataclass(frozen=True)
class DatabaseSettings:
    # SQLAlchemy's URL, scheme normalised; holds the password: log `redacted` instead.
    url: str
    redacted: str
    driver: str
    # Per worker process (see above); DB_MAX_OVERFLOW is 0 unless set.
    pool_size: int
    max_overflow: int
    # Seconds a request waits for a pooled connection before its 503.
    pool_timeout: int
    # Seconds after which a connection is replaced at its next checkout (-1: never).
    pool_recycle: int
    # Seconds the release step waits for the database before it gives up.
    release_wait: int


def load_database_settings(
    env: Env, worker_class: str, threads: int, worker_connections: int
) -> DatabaseSettings | None:
    """The database's settings; None when DATABASE_URL is unset (boot refuses that)."""
    from .settings import SettingsError

    raw = env.secret("DATABASE_URL", required=False)
    if raw is None:
        return None
    url, redacted, driver = normalised(raw, SettingsError)
    default_pool = {
        "sync": 1,
        "gthread": threads,
        "gevent": min(GEVENT_POOL_SIZE, worker_connections),
    }[worker_class]
    return DatabaseSettings(
        url=url,
        redacted=redacted,
        driver=driver,
        pool_size=env.integer("DB_POOL_SIZE", default_pool, minimum=1),
        # 0: a worker never opens more than its pool, so the total across workers and
        # instances is the number the boot line states, and a burst waits (then 503s)
        # instead of pushing the server past max_connections for everyone.
        max_overflow=env.integer("DB_MAX_OVERFLOW", 0, minimum=0),
        # 3 s: a request still waiting for a connection after 3 s is better answered
        # 503 at once (a router or client retries elsewhere) than held until clients
        # give up, and well below the 30 s worker timeout and SQLAlchemy's own 30 s.
        pool_timeout=env.integer("DB_POOL_TIMEOUT", 3, minimum=1),
        # 30 min: below the hour after which PgBouncer (server_lifetime) and several
        # managed proxies close a connection, and it lets a pool follow a failover's
        # new address; pre-ping (database.py) catches the ones closed earlier. 0: never.
        pool_recycle=env.integer("DB_POOL_RECYCLE", 1800, minimum=0) or -1,
        # 60 s: a database started beside the release (compose, a new platform add-on)
        # takes seconds to accept connections; a release that waits longer than a
        # minute is waiting for something that will not come by itself.
        release_wait=env.integer("DB_RELEASE_WAIT", 60, minimum=0),
    )


def normalised(raw: str, error: type[Exception]) -> tuple[str, str, str]:
    """(SQLAlchemy's URL, the same without its password, the driver module), or `error`."""
    scheme, separator, rest = raw.partition("://")
    redacted = redact(raw)
    if not separator or scheme.lower() not in SCHEMES:
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: expected a PostgreSQL URL "
            f"(postgres://, postgresql://, postgresql+psycopg:// or postgresql+psycopg2://), "
            f"such as {URL_FORM}"
        )
    if any(character.isspace() for character in raw):
        # A trailing newline (echo > file, a pasted value) would become part of the
        # database name or the password.
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: it contains whitespace (a trailing "
            f"newline?); percent-encode a space in a password as %20"
        )
    dialect = SCHEMES[scheme.lower()]
    url = f"{dialect}://{rest}"
    # Where urlsplit and SQLAlchemy look for the user, password, host and port.
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if netloc.count("@") > 1:
        # SQLAlchemy ends the credentials at the first @, this check at the last: the
        # service would connect to a host made of the password's end, and quote it.
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: more than one @; percent-encode "
            f"an @ in the user name or password as %40"
        )
    if "," in netloc.rpartition("@")[2]:
        # libpq's h1:5432,h2:5432 form, which SQLAlchemy's URL parser does not take.
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: several hosts are not supported; "
            f"give the one address that reaches the primary (the provider's endpoint or "
            f"a proxy's)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # Not the parser's message: it can quote the password (as a bad port).
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: not a valid URL (percent-encode "
            f"/ : @ # ? in a user name or password); expected {URL_FORM}"
        ) from None
    socket_folder = parse_qs(parts.query).get("host", [""])[0]
    if parts.hostname:
        if not _HOST.match(parts.hostname):
            raise error(
                f"DATABASE_URL={redacted!r} is not allowed: {parts.hostname!r} is not a "
                f"host name or IP address; expected {URL_FORM}"
            )
    elif not socket_folder.startswith("/"):
        raise error(f"DATABASE_URL={redacted!r} is not allowed: no host; expected {URL_FORM}")
    if port == 0:
        raise error(f"DATABASE_URL={redacted!r} is not allowed: port 0; expected 1-65535")
    if not parts.path.strip("/"):
        raise error(
            f"DATABASE_URL={redacted!r} is not allowed: no database name; expected {URL_FORM}"
        )
    module, distribution = DRIVERS[dialect]
    if importlib.util.find_spec(module) is None:
        raise error(
            f"DATABASE_URL={redacted!r} needs the {module} driver, which is not installed: "
            f'add "{distribution}" to pyproject.toml\'s dependencies, then make lock'
        )
    return url, redact(url), module


def redact(url: str) -> str:
    """The URL with its password replaced by ***, whatever else is wrong with it."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        # Not a URL: it may be a password pasted alone, or a DSN with password=...
        return "***" if url else url
    # The last @ ends the credentials, even where an unescaped / or @ is in the password.
    credentials, at, tail = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    tail = re.sub(r"(?i)(password=)[^&]*", r"\1***", tail)
    return f"{scheme}://{credentials}{at}{tail}"
