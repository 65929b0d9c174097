"""Fixtures of the serving tests: real gunicorn masters, failure logs (the run's own
hooks, its reliability table among them, are in harness/run.py)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from environment import app_environment
from harness.servers import PROBE_APP, Gunicorn

from {{ cookiecutter.package_name }}.serving import lifecycle

_DATA_DIR = pytest.StashKey[Path]()


def pytest_configure(config):
    """This test process runs with the test environment, never your shell's DATA_DIR
    or secrets: the serving tests build the app outside the `app` fixture too."""
    data_dir = Path(tempfile.mkdtemp(prefix="test-data-"))
    config.stash[_DATA_DIR] = data_dir
    os.environ.update(app_environment(data_dir))


def pytest_unconfigure(config):
    data_dir = config.stash.get(_DATA_DIR, None)
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _not_draining():
    # Draining is per process: a test that starts it must not leave it on.
    yield
    lifecycle.reset()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """Here `app` is the probe app (harness/probe_app.py), never yours: the serving tests
    check what serving.init_app adds to any app. TESTING on, a data folder of its own."""
    # Imported here, not at the top: the module builds its own app on import, which must
    # wait for pytest_configure's test environment.
    from harness.probe_app import create_probe_app

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return create_probe_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def start_gunicorn(tmp_path, request):
    """Start gunicorn masters on free 127.0.0.1 ports; all are killed after the test."""
    started: list[Gunicorn] = []

    def start(
        env: dict[str, str] | None = None, app: str = PROBE_APP, command: list[str] | None = None
    ) -> Gunicorn:
        server = Gunicorn(tmp_path, env or {}, app, command)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        if getattr(request.node, "rep_call_failed", True):
            print(f"--- gunicorn output ({server.url}) ---\n" + "\n".join(server.lines()))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Let fixtures see whether the test failed, to print server or container logs."""
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
