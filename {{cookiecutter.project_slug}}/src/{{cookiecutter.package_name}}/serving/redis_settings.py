"""The one Redis setting, REDIS_URL, for whatever in the service uses Redis: the
background jobs' queues (jobs_settings.py) and Socket.IO's message queue (socketio.py,
through settings.py) read the same variable, checked the same way.

A bad value is one line naming the variable; a URL is shown with its password
replaced by `***`. Standard library only, like settings.py: gunicorn's master reads this.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .settings import Env, SettingsError

# redis://, rediss:// (TLS, as managed Redis offers) or unix:// (a socket on the same host).
REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url(env: Env, *, required: bool) -> str | None:
    """REDIS_URL, validated; None when unset and not required."""
    # A secret: it may hold a password (REDIS_URL_FILE reads it from a mounted file).
    url = env.secret("REDIS_URL", required=required)
    if url is None:
        return None
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


def redis_tls_verify(env: Env) -> bool:
    # Whether a rediss:// server's certificate is checked (and its host name). Off only
    # for a managed Redis that serves a self-signed certificate, as Heroku Key-Value
    # Store does: the link stays encrypted, the server unauthenticated.
    return env.boolean("REDIS_TLS_VERIFY", True)


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
