"""Fixtures for your tests: `app` (TESTING on, its own data folder) and `client`."""

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app


@pytest.fixture
def app(tmp_path, monkeypatch):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
