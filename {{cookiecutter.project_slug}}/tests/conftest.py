"""Fixtures for your tests: `app` (TESTING on, its own data folder{% if cookiecutter.database == "postgresql" %} and database{% endif %}) and `client`."""

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app
{%- if cookiecutter.database == "postgresql" %}


@pytest.fixture
def database_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards (it skips
    without TEST_POSTGRES_URL: tests/serving/harness/databases.py)."""
    from harness.databases import admin_url, fresh_database

    with fresh_database(admin_url()) as url:
        yield url


@pytest.fixture
def app(tmp_path, monkeypatch, database_url):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
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
