"""The database for your app: an engine per worker process, a session per request.

serving.init_app calls `init_database(app)`, which adds: a session per app context
(`db_session()`: a request's, or a command's), closed at its teardown; a 503 for
every request the database cannot serve (unreachable, or no pooled connection free
within DB_POOL_TIMEOUT), answered the way errors.py answers any 503; and the `db`
commands (migrations.py). Nothing connects until something asks: a database that is
down at boot never stops the service, /health never touches it, and /ready reports it
through `database_is_reachable()`, the check your create_app registers.

The engine is made lazily, in the process that uses it: never in gunicorn's master,
whose forks would share its connections. A process that inherits one (a fork after
it was made) drops it without closing what belongs to its parent, and makes its own.
Its settings come from DATABASE_URL and DB_* (database_settings.py): a pool sized
to the worker class, pre-ping and recycling (docs/database.md says why each).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from werkzeug.exceptions import ServiceUnavailable

from .database_settings import DatabaseSettings
from .settings import SettingsError, current_settings

log = logging.getLogger(__name__)

# Seconds to open a connection: an unreachable host (a firewall that drops packets)
# fails a request or a /ready probe in 3 s, not after the kernel's 2 minutes. libpq
# counts in whole seconds and takes 2 as its least.
CONNECT_TIMEOUT = 3
# Milliseconds /ready's SELECT 1 may take: routers' probes time out after 1-5 s. Set
# with SET LOCAL inside the probe's transaction, not as a startup `options` parameter:
# PgBouncer and Neon's pooler refuse unknown startup parameters at connect.
READY_STATEMENT_TIMEOUT_MS = 1000
# TCP keepalives and a send bound on every connection (libpq's parameters, so poolers
# never see them). A peer that vanishes without a reset (a failover that moves the
# address, a NAT or load balancer that drops an idle flow) otherwise blocks a pre-ping
# or a query for the kernel's ~15 min of retransmissions. Idle 30 s: below the idle
# timeouts that drop flows silently (Azure's load balancer 4 min, AWS NAT gateway's
# 350 s), so the probes also keep the flow alive; 3 unanswered probes 10 s apart: a
# dead peer is noticed within a minute. tcp_user_timeout 30 s: data sent and never
# acknowledged fails the connection; a long query is unaffected (the server acks).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
# What the database raises, some of which mean it cannot serve (connection_failure()).
DATABASE_ERRORS = (OperationalError, DisconnectionError, PoolTimeout)
# SQLSTATEs that mean the server, not the request, is the problem: class 08 (connection
# exceptions), the server shutting down or starting (57P01-57P03), no connection slot
# left (53300). Every other error with a SQLSTATE (a statement timeout, a deadlock, a
# serialization failure, a full disk) is the request's: a 500 with its traceback.
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")

_engine: Engine | None = None
# The process and the URL it was made for: a fork, or a test's new database, makes another.
_made_for: tuple[int, str] | None = None
_probe_engine: Engine | None = None
_lock = threading.Lock()
# Workers per instance, for the pool line this process states when it first makes its
# engine (state_pool_on_first_use); None: no line.
_pool_line_workers: int | None = None


def engine_options(application_name: str | None = None) -> dict[str, Any]:
    """create_engine's arguments for this service: the URL and the pool's settings.

    An app on Flask-SQLAlchemy takes them as they are (docs/database.md):
    SQLALCHEMY_DATABASE_URI = options.pop("url"), SQLALCHEMY_ENGINE_OPTIONS = options.
    """
    database = database_settings()
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, **KEEPALIVES}
    if application_name:
        # Shown in pg_stat_activity: whose connections these are.
        connect_args["application_name"] = application_name
    return {
        "url": database.url,
        "pool_size": database.pool_size,
        "max_overflow": database.max_overflow,
        "pool_timeout": database.pool_timeout,
        "pool_recycle": database.pool_recycle,
        # A round trip (SELECT 1 on psycopg) at each checkout: after the server
        # restarted or a proxy dropped an idle connection, the pool replaces it
        # instead of failing the request with AdminShutdown.
        "pool_pre_ping": True,
        # A failed statement's error (logged, and in a 500's log line) names the SQL,
        # never the values bound to it: those are your users' data.
        "hide_parameters": True,
        "connect_args": connect_args,
    }


def database_engine() -> Engine:
    """This process's engine, made on first use (after the fork, in a worker)."""
    global _engine, _made_for, _probe_engine
    wanted = (os.getpid(), database_settings().url)
    if _engine is not None and _made_for == wanted:
        return _engine
    with _lock:
        if _engine is not None and _made_for != wanted:
            # Inherited from the parent, whose sockets its connections are: close=False
            # forgets them here without a word to the server. (A test's new URL: closed.)
            inherited = _made_for[0] != wanted[0]
            for engine in (_engine, _probe_engine):
                if engine is not None:
                    engine.dispose(close=not inherited)
            _engine = _probe_engine = None
        if _engine is None:
            options = engine_options(_application_name())
            _engine = create_engine(options.pop("url"), **options)
            _made_for = wanted
            _state_pool_once()
    return _engine


def state_pool_on_first_use(workers: int) -> None:
    """Make this process state the pool (log_pool_at_boot) when it first makes its engine:
    gunicorn's first worker, once per boot. Not at the fork: a worker that never uses
    the database (the serving tests' probe apps) spends nothing on it."""
    global _pool_line_workers
    _pool_line_workers = workers


def _state_pool_once() -> None:
    global _pool_line_workers
    if _pool_line_workers is not None:
        workers, _pool_line_workers = _pool_line_workers, None
        # In a thread (a greenlet under gevent): asking the server never delays a request.
        threading.Thread(target=log_pool_at_boot, args=(workers,), daemon=True).start()


def database_settings() -> DatabaseSettings:
    """This boot's (the service requires one), or, in tests and scripts, the environment's."""
    database = current_settings().database
    if database is None:
        raise SettingsError("DATABASE_URL is not set: the database cannot be used without it")
    return database


def _application_name() -> str | None:
    try:
        return current_app.config.get("SERVICE_NAME")
    except RuntimeError:  # outside an app context
        return None


def db_session() -> Session:
    """The session of this app context (a request, a command), closed when it ends."""
    session = g.get("_db_session")
    if session is None:
        session = g._db_session = Session(database_engine())
    return session


def _close_session(error: BaseException | None) -> None:
    session = g.pop("_db_session", None)
    if session is None:
        return
    try:
        session.close()
    except DATABASE_ERRORS as lost:
        # The server went away after the request's work (a restart, a failover): the
        # ROLLBACK that ends the session failed. The response is decided already, and a
        # clean-up must not turn it into a 500; the connection is invalidated, so the
        # pool opens a new one for the next request.
        log.warning("database connection lost at the end of a request: %s", error_reason(lost))
        session.invalidate()


def database_is_reachable() -> bool:
    """/ready's check: SELECT 1 on a connection of its own, within about a second.

    Not from the pool: a pool busy with requests is load, not an outage, and must not
    take the instance out of rotation; a probe every few seconds costs one short
    connection. The statement is bounded too (READY_STATEMENT_TIMEOUT_MS).
    """
    try:
        with probe_engine().begin() as connection:
            connection.execute(text(f"SET LOCAL statement_timeout = {READY_STATEMENT_TIMEOUT_MS}"))
            connection.execute(text("SELECT 1"))
    except DATABASE_ERRORS as error:
        log.warning("database unreachable: %s", error_reason(error))
        return False
    return True


def probe_engine() -> Engine:
    """This process's engine without a pool: /ready's probe and the pool line, which
    must never take a connection a request is waiting for."""
    global _probe_engine
    database_engine()  # drops an inherited or outdated probe engine with the main one
    with _lock:
        if _probe_engine is None:
            options = engine_options(_application_name())
            _probe_engine = create_engine(
                options["url"], poolclass=NullPool, connect_args=options["connect_args"]
            )
        return _probe_engine


def connection_failure(error: BaseException) -> bool:
    """Whether the database could not serve at all (503), rather than failing the request."""
    if isinstance(error, (PoolTimeout, DisconnectionError)):
        return True
    if getattr(error, "connection_invalidated", False):
        return True
    driver_error = getattr(error, "orig", None)
    # psycopg 3 calls it sqlstate, psycopg2 pgcode.
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
    if sqlstate is None:
        # The driver's own failures carry none: refused, timed out, closed, a connect
        # the server turned down (libpq gives no SQLSTATE before the session exists).
        return isinstance(error, OperationalError)
    return sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


def _database_unavailable(error: Exception):
    if not connection_failure(error):
        # The request's own failure (a statement timeout, a deadlock...): Flask's 500
        # path, which logs its traceback.
        raise error
    log.warning(
        "database unavailable: %s",
        error_reason(error),
        extra={"error": type(error).__name__},
    )
    log.debug("database error", exc_info=error)
    return current_app.handle_http_exception(ServiceUnavailable("database unavailable"))


def error_reason(error: BaseException) -> str:
    """The first line of the driver's message: no SQL, no parameters, no traceback."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def init_database(app: Flask) -> None:
    from .migrations import db_commands

    app.teardown_appcontext(_close_session)
    for error in DATABASE_ERRORS:
        app.register_error_handler(error, _database_unavailable)
    app.cli.add_command(db_commands)


def log_pool_at_boot(workers: int) -> None:
    """One line: the connections per worker x workers = per instance, against the
    tightest of the server's limits; a WARNING when not even one instance fits.

    Run by the first worker gunicorn forks, in a thread of its own: it connects, which
    the master must not, and never delays serving. It asks on the probe engine, never
    taking a pooled connection from a request.
    """
    database = database_settings()
    pool = database.pool_size + database.max_overflow
    # Each worker's pool, plus the connection of its /ready probe while it runs.
    per_worker = pool + 1
    per_instance = per_worker * workers
    figures: dict[str, Any] = {
        "pool_size": database.pool_size,
        "max_overflow": database.max_overflow,
        "workers": workers,
        "per_instance": per_instance,
        "pool_timeout": database.pool_timeout,
        "pool_recycle": database.pool_recycle,
        "url": database.redacted,
    }
    stated = (
        f"database pool: {pool} per worker (+1 for /ready's probe) x {workers} workers "
        f"= {per_instance} per instance"
    )
    try:
        with probe_engine().connect() as connection:
            limit, reserved, role_limit, database_limit = connection.execute(
                text(
                    "SELECT current_setting('max_connections')::int,"
                    " current_setting('superuser_reserved_connections')::int,"
                    " (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user),"
                    " (SELECT datconnlimit FROM pg_database WHERE datname = current_database())"
                )
            ).one()
    except Exception as error:  # any failure: the line says it could not ask
        figures["max_connections"] = None
        log.info(
            "%s; could not ask the server its limits (%s)",
            stated,
            error_reason(error),
            extra={"database_pool": figures},
        )
        return
    # The tightest limit this service's connections meet (-1: no limit of that kind).
    limits = [(limit - reserved, f"max_connections {limit} less {reserved} for superusers")]
    if role_limit is not None and role_limit >= 0:
        limits.append((role_limit, f"this role's CONNECTION LIMIT {role_limit}"))
    if database_limit is not None and database_limit >= 0:
        limits.append((database_limit, f"this database's CONNECTION LIMIT {database_limit}"))
    allowed, which = min(limits)
    fit = allowed // per_instance
    figures.update(
        max_connections=limit,
        role_connection_limit=role_limit,
        database_connection_limit=database_limit,
        allowed=allowed,
        instances_that_fit=fit,
    )
    if fit >= 1:
        log.info(
            "%s; the server allows %d (%s): %d instances fit",
            stated,
            allowed,
            which,
            fit,
            extra={"database_pool": figures},
        )
    else:
        log.warning(
            "%s; the server allows %d (%s): not even one instance fits; lower DB_POOL_SIZE "
            "or the workers (docs/database.md, The total)",
            stated,
            allowed,
            which,
            extra={"database_pool": figures},
        )
