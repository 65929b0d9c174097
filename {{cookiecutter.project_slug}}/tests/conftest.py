"""Fixtures for your tests: `app` (TESTING on, its own data folder) and `client`{% if cookiecutter.database == "postgresql" %};
`database`, which a test asks for when it needs one{% endif %}{% if cookiecutter.background_jobs == "rq" %};
`redis_url`, a real Redis for your job tests{% endif %}."""

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app

# The serving tests' hooks for the whole run, in every test process (make test runs
# several: docs/testing.md): their image, their reliability table, and your tests kept
# in one process.
pytest_plugins = [
    "harness.run",
{%- if cookiecutter.database == "postgresql" %}
    # `postgres_server` (TEST_POSTGRES_URL's PostgreSQL, or one it starts and stops)
    # and `postgres_database_url` (an empty database of the test's own).
    "harness.postgres",
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
    # `redis_url`: TEST_REDIS_URL's Redis, or a redis-server it starts and stops.
    "harness.redis_server",
{%- endif %}
]
{%- if cookiecutter.database == "postgresql" %}


@pytest.fixture
def app(tmp_path, monkeypatch, request):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    # Only a test that asks for `database` gets one: the others (and machines without
    # PostgreSQL) keep test.env's closed port, which nothing reaches.
    if "database" in request.fixturenames:
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("database"))
    return create_app({"TESTING": True})


@pytest.fixture(scope="session")
def migrated_template(postgres_server, tmp_path_factory):
    """A database your migrations ran into once, as every deploy's release step runs
    them: each test's database is a copy of it (faster than migrating per test)."""
    name = postgres_server.create_database()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for variable, value in app_environment(tmp_path_factory.mktemp("data")).items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv("DATABASE_URL", postgres_server.url(name))
        result = create_app({"TESTING": True}).test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
    yield name
    postgres_server.drop_database(name)


@pytest.fixture
def database(postgres_server, migrated_template):
    """The URL of a fresh, migrated database of this test's own, dropped after it."""
    name = postgres_server.create_database(template=migrated_template)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
{%- else %}


@pytest.fixture
def app(tmp_path, monkeypatch):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True})
{%- endif %}


@pytest.fixture
def client(app):
    return app.test_client()
