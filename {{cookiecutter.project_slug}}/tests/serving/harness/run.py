"""The serving tests' hooks for the whole run, however many processes run it.

`make test` runs the tests on TEST_WORKERS processes (pytest-xdist): workers that run
them, and a controller that collects none and prints the summary. Plain `pytest` is
one process that does both. tests/conftest.py loads this module in every one of them
(`pytest_plugins`): the controller reads no conftest.py below tests/, so this cannot
live in tests/serving/conftest.py.

Per run, not per process: one folder (RUN_FOLDER), one image of the project
(harness/images.py), one reliability table, and the work units handed to processes.
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
# The work unit of every test outside tests/serving (docs/testing.md).
YOUR_TESTS = "your tests"


def reports(config: pytest.Config) -> bool:
    """Whether this process reports the run: plain pytest's, or xdist's controller."""
    return not hasattr(config, "workerinput")


def folder() -> Path:
    return Path(os.environ[RUN_FOLDER])


def pytest_configure(config):
    if reports(config):
        os.environ[RUN_FOLDER] = tempfile.mkdtemp(prefix="serving-tests-")


def pytest_collection_modifyitems(items):
    """Under xdist, the files whose tests take longest come first, so that no process is
    left with one of them at the end while the other idles: your tests (one unit, of a
    size only you know), then files with `slow` tests, then with `docker` tests, then
    the rest; in their own order within each. Plain pytest keeps the usual order."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    ranks: dict[str, int] = {}
    for item in items:
        unit = work_unit(item.nodeid)
        rank = 3
        if unit == YOUR_TESTS:
            rank = 0
        elif item.get_closest_marker("slow"):
            rank = 1
        elif item.get_closest_marker("docker"):
            rank = 2
        ranks[unit] = min(rank, ranks.get(unit, rank))
    # Stable: each file's tests keep their order, and stay together.
    items.sort(key=lambda item: ranks[work_unit(item.nodeid)])


def work_unit(nodeid: str) -> str:
    """What one process runs as a whole: a serving file's tests (its module's server or
    containers start once), or all of yours (one after another, as under plain pytest:
    tests of yours may share a port, a file or a database and never know of xdist)."""
    path = nodeid.split("::", 1)[0]
    serving = SERVING.relative_to(SERVING.parents[1]).as_posix() + "/"
    return path if path.startswith(serving) else YOUR_TESTS


# tryfirst: before xdist's own, which makes the scheduler of every --dist.
@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """With -n, xdist hands out whole work units in the order collected (above); an
    explicit --dist is yours."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # by test count; the order above is by cost
    return ByWorkUnit(config, log)


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
