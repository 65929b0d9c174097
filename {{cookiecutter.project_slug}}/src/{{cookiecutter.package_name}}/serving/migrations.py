"""Alembic, configured in code: the release step's migrations and the `db` commands.

No alembic.ini. Its [loggers] section is what makes the usual env.py call
fileConfig(), which disables the service's loggers and turns its output into plain
text (the release step's own JSON line vanished). Here Alembic gets the script
location, your package's migrations/ (inside the package, so the image carries it
with the code), and a connection in code; logging stays the service's.

    python -m {{ cookiecutter.package_name }} release                        wait for the database, then upgrade to head
    python -m {{ cookiecutter.package_name }} manage db upgrade [REVISION]
    python -m {{ cookiecutter.package_name }} manage db downgrade REVISION   (-1: one step back)
    python -m {{ cookiecutter.package_name }} manage db revision -m MESSAGE  (compares models.py with the database)
    python -m {{ cookiecutter.package_name }} manage db current | history

A release that fails exits 1 with one ERROR line naming the cause; the traceback
is logged at DEBUG only (LOG_LEVEL=debug shows it).
"""

from __future__ import annotations

import importlib.util
import logging
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from .database import database_settings, engine_options, error_reason

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# src/PACKAGE/migrations: env.py, script.py.mako and versions/.
SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"
# Seconds between two attempts to reach the database: often enough that a database
# that just came up is used at once, seldom enough to log a line every 2 s at most.
RETRY_INTERVAL = 2
# The advisory lock every migration command holds (an arbitrary constant, the same for
# every copy of this service): two releases at once (two deploys, a release beside a
# `manage db upgrade`) run one after the other instead of racing on the same DDL.
MIGRATION_LOCK = 7_446_120_221
# What the server says when it turns down the credentials (SQLSTATE class 28), which
# libpq reports without its SQLSTATE: waiting cannot fix them, so the release fails at
# once. (The server's English messages; in another lc_messages it waits as for any.)
REFUSED_CREDENTIALS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    'role "',  # role "x" does not exist
    "permission denied for database",
)


class ReleaseError(RuntimeError):
    """Why the release step stopped: the one line it logs."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without a file: the script location and a connection.

    Alembic is imported here, not at the top: workers register the `db` commands
    with every app and never run them, and need not carry Alembic in memory.
    """
    # Seven INFO lines per command, logged as Alembic loads, that say only which
    # plugins it set up.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def single_connection_engine() -> Engine:
    """An engine without a pool, for a command that runs once (release, db)."""
    options = engine_options("release")
    return create_engine(options["url"], poolclass=NullPool, connect_args=options["connect_args"])


def wait_for_database(engine: Engine, wait: int) -> None:
    """Return once SELECT 1 succeeds; raise ReleaseError after `wait` seconds of trying."""
    database = database_settings()
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as error:
            reason = error_reason(error)
            if any(words in reason for words in REFUSED_CREDENTIALS):
                raise ReleaseError(
                    f"the database at {database.redacted} refused the credentials: {reason}"
                ) from None
            left = wait - (time.monotonic() - start)
            if left <= 0:
                raise ReleaseError(
                    f"the database at {database.redacted} did not answer within "
                    f"DB_RELEASE_WAIT={wait} s ({attempt} attempts): {reason}"
                ) from None
            log.warning(
                "release: waiting for the database (attempt %d, %.0f s left): %s",
                attempt,
                left,
                reason,
                extra={"attempt": attempt, "reason": reason},
            )
            time.sleep(min(RETRY_INTERVAL, left))


def release() -> None:
    """The release step: wait for the database, then upgrade it to the newest revision."""
    try:
        engine = single_connection_engine()
        wait_for_database(engine, database_settings().release_wait)
        with migration_connection(engine) as connection:
            alembic_command("upgrade")(alembic_config(connection), "head")
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            connection.commit()
        log.info("release: database at revision %s", revision, extra={"revision": revision})
    except Exception as error:  # one line for any cause; the traceback at DEBUG
        log.debug("release failed", exc_info=True)
        cause = str(error) if isinstance(error, ReleaseError) else failure_cause(error)
        log.error(
            "release failed: %s", cause, extra={"error": type(error).__name__, "cause": cause}
        )
        raise SystemExit(1) from None


@contextmanager
def migration_connection(engine: Engine):
    """A connection holding MIGRATION_LOCK, with no transaction open: env.py's
    begin_transaction() then owns it, so a revision's autocommit_block() (CREATE INDEX
    CONCURRENTLY) can commit; inside an outer transaction Alembic refuses it."""
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        # A session lock: it outlives this transaction, and ends with the connection
        # (no pool keeps it open), whatever happened meanwhile.
        connection.commit()
        yield connection


def failure_cause(error: BaseException) -> str:
    """The driver's first line for a database error; otherwise the exception's type and
    message and where it was raised: the last frame in your migrations/, or the last."""
    if hasattr(error, "orig"):
        return error_reason(error)
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if frame.filename.startswith(str(SCRIPT_LOCATION))]
    where = (ours or frames)[-1] if frames else None
    place = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}{': ' + message[0] if message else ''}{place}"


@click.group("db")
def db_commands() -> None:
    """Migrations of the database (Alembic): upgrade, downgrade, revision, current, history."""


def alembic_command(name: str):
    from alembic import command

    return getattr(command, name)


def _run(name: str, *args, **kwargs) -> None:
    with migration_connection(single_connection_engine()) as connection:
        config = alembic_config(connection)
        if name == "revision":
            format_new_revisions(config)
        alembic_command(name)(config, *args, **kwargs)


def format_new_revisions(config: Config) -> None:
    """A new revision in the project's style (`ruff format`, Alembic's post-write hook),
    so `make lint` passes after `make migration`; only where ruff is installed (the
    dev environment: make sync)."""
    if importlib.util.find_spec("ruff") is None:
        return
    for option, value in (
        ("hooks", "ruff_format"),
        ("ruff_format.type", "module"),
        ("ruff_format.module", "ruff"),
        ("ruff_format.options", "format --quiet REVISION_SCRIPT_FILENAME"),
    ):
        config.set_section_option("post_write_hooks", option, value)


@db_commands.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Upgrade to REVISION (default: head), without waiting for the database."""
    _run("upgrade", revision)


@db_commands.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Downgrade to REVISION (-1: one step back, base: nothing)."""
    _run("downgrade", revision)


@db_commands.command("revision")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--empty", is_flag=True, help="An empty revision, not compared with models.py.")
def revision_command(message: str, empty: bool) -> None:
    """Write the next revision: what models.py has that the database lacks."""
    if empty:
        _run("revision", message=message)
        return
    found = []

    def unless_nothing_changed(context, revision, directives) -> None:
        # Alembic writes an empty revision when models.py and the database agree: a
        # file with `pass` that every later deploy applies for nothing. Nothing is
        # written instead, and the command fails saying why.
        if directives and directives[0].upgrade_ops.is_empty():
            directives[:] = []
        else:
            found.append(True)

    _run(
        "revision",
        message=message,
        autogenerate=True,
        process_revision_directives=unless_nothing_changed,
    )
    if not found:
        raise click.ClickException(
            "no change to write: models.py and the database agree (is the database at"
            " the newest revision, and models.py saved?). --empty writes a revision"
            " to fill by hand."
        )


@db_commands.command("current")
def current_command() -> None:
    """The database's revision."""
    _run("current")


@db_commands.command("history")
def history_command() -> None:
    """Every revision, newest first."""
    _run("history")
