"""The benchmark's database endpoint, `/db`: an indexed primary-key read of a random row
of the table bench/database.py fills. Never deployed (.dockerignore leaves bench/ out).

- `service`: the production app, everything on, reading through the service's own
  stack (serving/database.py: the worker's engine and pool, the request's session).
- `bare_flask_psycopg`: the reference, a hello-world Flask app with one plain psycopg
  connection per worker, no SQLAlchemy, for sync workers (one request at a time each).

Pool waits are counted where they happen: a request that asks the pool while every
connection is out writes one byte, `w`, to a file of its worker's own under
BENCH_POOL_EVENTS; one that then times out writes `t`. bench/database.py counts them.
"""

from __future__ import annotations

import os
import secrets

import psycopg
from flask import Flask, abort, jsonify
from sqlalchemy import String
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.serving.database import database_engine, db_session
from {{ cookiecutter.package_name }}.serving.settings import current_settings

# bench/database.py creates the table with this many rows and passes the count.
ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
SELECT = "SELECT id, name FROM bench_item WHERE id = %s"


class _BenchBase(DeclarativeBase):
    """The bench's own metadata: its table never reaches the app's migrations."""


class BenchItem(_BenchBase):
    __tablename__ = "bench_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


def _random_id() -> int:
    return secrets.randbelow(ROWS) + 1


class _PoolEvents:
    """Appends one byte per event to a file of this process's own (after fork)."""

    def __init__(self) -> None:
        self._folder = os.environ.get("BENCH_POOL_EVENTS")
        self._fd: int | None = None
        self._pid = 0

    def record(self, event: bytes) -> None:
        if not self._folder:
            return
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._fd = os.open(
                os.path.join(self._folder, str(self._pid)),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o600,
            )
        os.write(self._fd, event)


_events = _PoolEvents()


def _service_read():
    pool = database_engine().pool
    capacity = pool.size() + current_settings().database.max_overflow
    # Every connection out and no overflow left: this request waits for one. Read
    # just before the checkout; between the two nothing yields on gevent, and on
    # gthread the pool holds one connection per thread, so it never waits.
    if pool.checkedin() == 0 and pool.checkedout() >= capacity:
        _events.record(b"w")
    try:
        item = db_session().get(BenchItem, _random_id())
    except PoolTimeout:
        _events.record(b"t")
        raise  # the service answers 503, as in production
    if item is None:
        abort(404)
    return jsonify(id=item.id, name=item.name)


service = create_app()
service.add_url_rule("/db", "db", _service_read)


bare_flask_psycopg = Flask(__name__)
# One connection per worker process, opened at its first request (after the fork).
_connection: psycopg.Connection | None = None


@bare_flask_psycopg.get("/db")
def _bare_read():
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    row = _connection.execute(SELECT, (_random_id(),)).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row[0], name=row[1])


@bare_flask_psycopg.get("/health")
def _bare_health():
    return jsonify(status="ok")
