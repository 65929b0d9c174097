"""Fixtures for your tests: `app` (TESTING on, its own data folder) and `client`."""

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app

{%- if cookiecutter.database == "postgresql" %}

# A real PostgreSQL for your tests: the server at TEST_POSTGRES_URL, or one the tests
# start from the installed binaries (tests/serving/harness/postgres.py). It gives every
# test that asks for `postgres_database_url` a fresh, empty database.
pytest_plugins = ["harness.postgres"]
{%- endif %}


@pytest.fixture
def app(tmp_path, monkeypatch{% if cookiecutter.database == "postgresql" %}, postgres_database_url{% endif %}):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
{%- if cookiecutter.database == "postgresql" %}
    monkeypatch.setenv("DATABASE_URL", postgres_database_url)
{%- endif %}
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
