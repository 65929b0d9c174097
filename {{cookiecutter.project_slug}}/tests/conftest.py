import pytest

from {{ cookiecutter.package_name }} import health
from {{ cookiecutter.package_name }}.app import create_app


@pytest.fixture
def app():
    app = create_app({"TESTING": True})
    yield app
    # Draining is per process; undo it for the next test.
    health._lifecycle.draining = False


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Let fixtures see whether the test failed, to print server or container logs."""
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
