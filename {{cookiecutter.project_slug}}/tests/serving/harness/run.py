"""The serving tests' hooks for the whole run, however many processes run it.

`make test` runs the tests on TEST_WORKERS processes (pytest-xdist): workers that run
them, and a controller that collects none and prints the summary. Plain `pytest` is
one process that does both. tests/conftest.py loads this module in every one of them
(`pytest_plugins`): the controller reads no conftest.py below tests/, so this cannot
live in tests/serving/conftest.py.

Per run, not per process: one folder (RUN_FOLDER), one image of the project
(harness/images.py), one reliability table, and the grouping that keeps each file's
tests in one process.
"""

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest

from harness import reliability

# The run's folder; made before xdist starts its workers, which inherit the variable.
RUN_FOLDER = "SERVING_TESTS_RUN"
SERVING = Path(__file__).resolve().parents[1]
# The group of every test outside tests/serving: yours run in one process, one after
# another as under plain pytest, their session fixtures made once (docs/testing.md).
YOUR_TESTS = "your-tests"


def reports(config: pytest.Config) -> bool:
    """Whether this process reports the run: plain pytest's, or xdist's controller."""
    return not hasattr(config, "workerinput")


def folder() -> Path:
    return Path(os.environ[RUN_FOLDER])


def pytest_configure(config):
    if reports(config):
        os.environ[RUN_FOLDER] = tempfile.mkdtemp(prefix="serving-tests-")


def pytest_collection_modifyitems(items):
    """xdist's `--dist loadgroup` (pyproject.toml) hands out a group at a time: a
    serving file's tests stay together (a module's server or containers start once),
    and so do all of yours."""
    for item in items:
        path = Path(item.path)
        group = path.relative_to(SERVING).as_posix() if path.is_relative_to(SERVING) else None
        item.add_marker(pytest.mark.xdist_group(group or YOUR_TESTS))


def pytest_sessionfinish(session):
    # A worker hands its reliability rows to the controller (pytest_testnodedown).
    if not reports(session.config):
        session.config.workeroutput["reliability"] = [asdict(row) for row in reliability.ROWS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for row in getattr(node, "workeroutput", {}).get("reliability", []):
        reliability.record(**row)


def pytest_terminal_summary(terminalreporter):
    if not reliability.ROWS:
        return
    report = reliability.table()
    terminalreporter.write_sep("=", "reliability")
    terminalreporter.write_line(report)
    if os.environ.get("RELIABILITY_REPORT"):
        Path(os.environ["RELIABILITY_REPORT"]).write_text(report + "\n")


def pytest_unconfigure(config):
    # After the last worker: the run's image goes, with every image its build made.
    if reports(config) and RUN_FOLDER in os.environ:
        # Imported here: images.py takes its lock in this module's folder.
        from harness import images

        try:
            images.remove_run_image()
        finally:
            shutil.rmtree(os.environ.pop(RUN_FOLDER), ignore_errors=True)
