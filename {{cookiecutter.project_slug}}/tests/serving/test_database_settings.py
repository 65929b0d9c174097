"""DATABASE_URL and the pool's sizes, as the master reads them at boot (database_settings.py).

Every bad value stops the boot with one line naming DATABASE_URL, its password
never shown; no server is needed here.
"""

import subprocess
import sys

import pytest
from environment import app_environment
from harness.servers import PROJECT

from {{ cookiecutter.package_name }}.serving.settings import (
    SettingsError,
    load_settings,
    require_database,
)

PASSWORD = "s3cret-Pa55word"
GOOD = f"postgresql://app:{PASSWORD}@db.internal:5432/app"


def database(**environ):
    return load_settings({"DATABASE_URL": GOOD, **environ}).database


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgres://app:{PASSWORD}@db:5432/app", "postgresql+psycopg://app:"),
        (f"postgresql://app:{PASSWORD}@db/app", "postgresql+psycopg://app:"),
        (f"postgresql+psycopg://app:{PASSWORD}@db/app", "postgresql+psycopg://app:"),
        (f"postgresql://app:{PASSWORD}@[::1]:5432/app", "postgresql+psycopg://app:"),
        # A compose service name with an underscore.
        (f"postgresql://app:{PASSWORD}@my_db:5432/app", "postgresql+psycopg://app:"),
    ],
)
def test_postgres_urls_become_psycopg_3(url, expected):
    settings = load_settings({"DATABASE_URL": url}).database
    assert settings.url.startswith(expected)
    assert settings.driver == "psycopg"
    assert PASSWORD not in settings.redacted and "***" in settings.redacted


def test_a_trailing_newline_is_dropped_not_made_part_of_the_name():
    assert database(DATABASE_URL=GOOD + "\n").url.endswith("@db.internal:5432/app")


def test_the_cloud_sql_unix_socket_form_is_accepted():
    url = f"postgresql://app:{PASSWORD}@/app?host=/cloudsql/my-project:europe-west1:main"
    settings = load_settings({"DATABASE_URL": url}).database
    assert settings.url == url.replace("postgresql://", "postgresql+psycopg://")


def test_the_url_can_come_from_a_file(tmp_path):
    secret = tmp_path / "database-url"
    secret.write_text(GOOD + "\n")
    settings = load_settings({"DATABASE_URL_FILE": str(secret)}).database
    assert settings.url == GOOD.replace("postgresql://", "postgresql+psycopg://")


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"DATABASE_URL": f"mysql://app:{PASSWORD}@db/app"}, "expected a PostgreSQL URL"),
        ({"DATABASE_URL": "sqlite:///var/app.db"}, "expected a PostgreSQL URL"),
        ({"DATABASE_URL": PASSWORD}, "expected a PostgreSQL URL"),
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@/app"}, "no host"),
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@db:99999/app"}, "is not allowed"),
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@db:5432"}, "no database name"),
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@db_host!/app"}, "not a host name"),
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@/app?host=cloudsql"}, "no host"),
        # SQLAlchemy would take the password's end for the host, and quote it.
        ({"DATABASE_URL": f"postgresql://app:{PASSWORD}@ss@db/app"}, "more than one @"),
        ({"DATABASE_URL": GOOD.replace("/app", "/app\nx")}, "whitespace"),
        ({"DATABASE_URL": GOOD.replace("@", "@ ")}, "whitespace"),
        (
            {"DATABASE_URL": f"postgresql://app:{PASSWORD}@h1:5432,h2:5432/app"},
            "several hosts",
        ),
        (
            {"DATABASE_URL": f"postgresql+psycopg2://app:{PASSWORD}@db/app"},
            "needs the psycopg2 driver, which is not installed",
        ),
        (
            {"DATABASE_URL": GOOD, "DATABASE_URL_FILE": "/run/secrets/url"},
            "set only one of them",
        ),
    ],
)
def test_a_bad_url_is_one_line_naming_the_variable_without_the_password(environ, says):
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    message = str(refused.value)
    assert "DATABASE_URL" in message and says in message
    assert PASSWORD not in message and "\n" not in message


def test_the_service_does_not_boot_without_one():
    settings = load_settings({})  # tests and scripts may parse without a database
    assert settings.database is None
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is not set: set DATABASE_URL"):
        require_database(settings)


def test_a_password_with_reserved_characters_is_redacted_too():
    url = f"postgresql://app:{PASSWORD}/@x@db_host!/app"
    with pytest.raises(SettingsError) as refused:
        load_settings({"DATABASE_URL": url})
    assert PASSWORD not in str(refused.value) and "/@x" not in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "pool_size"),
    [
        ({"GUNICORN_WORKER_CLASS": "sync"}, 1),
        ({"GUNICORN_WORKER_CLASS": "gthread"}, 4),
        ({"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "8"}, 8),
        ({"GUNICORN_WORKER_CLASS": "gevent"}, 10),
        ({"GUNICORN_WORKER_CLASS": "gevent", "GUNICORN_WORKER_CONNECTIONS": "4"}, 4),
        ({"GUNICORN_WORKER_CLASS": "gevent", "DB_POOL_SIZE": "25"}, 25),
    ],
)
def test_the_pool_follows_the_worker_class(environ, pool_size):
    settings = database(**environ)
    assert settings.pool_size == pool_size
    assert settings.max_overflow == 0
    assert settings.pool_timeout == 3


def test_every_pool_value_can_be_overridden():
    settings = database(
        DB_MAX_OVERFLOW="5", DB_POOL_TIMEOUT="10", DB_POOL_RECYCLE="0", DB_RELEASE_WAIT="5"
    )
    assert (settings.max_overflow, settings.pool_timeout) == (5, 10)
    assert (settings.pool_recycle, settings.release_wait) == (-1, 5)
    with pytest.raises(SettingsError, match="DB_POOL_SIZE='0' is not allowed"):
        database(DB_POOL_SIZE="0")


def test_the_boot_stops_before_binding_with_one_line(tmp_path):
    environ = {
        # Your test environment (tests/test.env), so only DATABASE_URL is wrong.
        **app_environment(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT / "src"),
        "DATABASE_URL": f"mysql://app:{PASSWORD}@db/app",
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("configuration error: DATABASE_URL=") and PASSWORD not in line


def test_the_master_never_imports_sqlalchemy_or_the_driver(tmp_path):
    """What gunicorn's master loads to validate: the gevent worker patches the standard
    library after the fork, and a driver imported before would keep blocking sockets."""
    package = "{{ cookiecutter.package_name }}"
    code = (
        f"import sys, {package}.serving.gunicorn_config; "
        "print(sorted(m for m in ('sqlalchemy', 'psycopg', 'alembic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **app_environment(tmp_path / "data"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(PROJECT / "src"),
            "DATABASE_URL": GOOD,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
