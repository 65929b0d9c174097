"""Fresh, empty PostgreSQL databases for tests, on the server TEST_POSTGRES_URL names.

TEST_POSTGRES_URL is an admin URL (postgresql://postgres:postgres@127.0.0.1:5432/postgres):
each test gets a database of its own, uniquely named, dropped afterwards even when
the test fails. Without it, the tests that need a database skip with the reason.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

from harness.http import wait_for

ADMIN_URL = "TEST_POSTGRES_URL"


def admin_url() -> str:
    url = os.environ.get(ADMIN_URL, "").strip()
    if not url:
        pytest.skip(
            f"{ADMIN_URL} is not set: these tests need a PostgreSQL server "
            "(export TEST_POSTGRES_URL=postgresql://USER:PASSWORD@127.0.0.1:5432/postgres)"
        )
    return url


@contextlib.contextmanager
def fresh_database(admin: str) -> Iterator[str]:
    """The URL of a new empty database on the admin URL's server; dropped on exit."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    libpq_url = admin.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        base, _, _ = libpq_url.partition("?")
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        # A server busy with other suites may refuse a connection for a moment
        # ("too many clients"): the drop is retried for a few seconds.
        wait_for(lambda: drop(libpq_url, name), 10, f"database {name} dropped")


def drop(admin: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return True
