"""Fixtures for your tests: `app` (TESTING on, its own data folder) and `client`."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }} import create_app

_DATA_DIR = pytest.StashKey[Path]()


def pytest_configure(config):
    """The test process itself runs with the test environment, never your shell's
    DATA_DIR or secrets: modules imported while tests are collected may build the app."""
    data_dir = Path(tempfile.mkdtemp(prefix="test-data-"))
    config.stash[_DATA_DIR] = data_dir
    os.environ.update(app_environment(data_dir))


def pytest_unconfigure(config):
    data_dir = config.stash.get(_DATA_DIR, None)
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def app(tmp_path, monkeypatch):
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
