"""Fixtures for your tests: `app` (TESTING on, its own data folder{% if cookiecutter.database == "postgresql" %} and database{% endif %}) and `client`."""

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app

{%- if cookiecutter.database == "postgresql" %}

# A real PostgreSQL for your tests: the server at TEST_POSTGRES_URL, or one the tests
# start from the installed binaries (tests/serving/harness/postgres.py). Every test
# that asks for `postgres_database_url` gets a fresh, empty database of its own.
pytest_plugins = ["harness.postgres"]


@pytest.fixture
def app(tmp_path, monkeypatch, postgres_database_url):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", postgres_database_url)
    app = create_app({"TESTING": True})
    # Your migrations, as every deploy's release step runs them.
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
    return app
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
