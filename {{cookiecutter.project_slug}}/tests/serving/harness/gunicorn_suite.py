"""A pytest plugin that runs gunicorn's own worker tests against the worker subclasses.

test_gunicorn_internals.py starts a separate pytest with `-p harness.gunicorn_suite`
on test files from gunicorn's sdist. In that process, gunicorn's ThreadWorker and
GeventWorker are replaced by the subclasses wherever the tests look them up (module
attributes), and a `gunicorn --worker-class gthread` the tests start is given the
subclass instead. The outcome of every test goes to the JSON file that
GUNICORN_SUITE_REPORT names.
"""

import json
import os
import subprocess

import pytest
from gunicorn.workers import ggevent, gthread

from {{ cookiecutter.package_name }}.serving.gevent_worker import (
    DrainingGeventWorker,
)
from {{ cookiecutter.package_name }}.serving.gthread_worker import (
    HeaderBufferingThreadWorker,
)

# gunicorn's name for a worker class on its command line -> the subclass to run instead.
COMMAND_LINE = {
    name: f"{subclass.__module__}.{subclass.__qualname__}"
    for name, subclass in (
        ("gthread", HeaderBufferingThreadWorker),
        ("gevent", DrainingGeventWorker),
    )
}

_outcomes: dict[str, str] = {}
_deselected: list[str] = []
_commands: list[list[str]] = []  # gunicorn command lines started, after substitution


@pytest.fixture(autouse=True)
def _subclasses_in_place_of_gunicorns(monkeypatch):
    monkeypatch.setattr(gthread, "ThreadWorker", HeaderBufferingThreadWorker)
    monkeypatch.setattr(ggevent, "GeventWorker", DrainingGeventWorker)
    popen = subprocess.Popen

    def substituted(args, *rest, **options):
        if isinstance(args, list | tuple) and "gunicorn" in args:
            args = _with_subclass(list(args))
            _commands.append(args)
        return popen(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", substituted)


def _with_subclass(args: list[str]) -> list[str]:
    for flag in ("--worker-class", "-k"):
        if flag in args and args.index(flag) + 1 < len(args):
            at = args.index(flag) + 1
            if args[at] in COMMAND_LINE:
                args[at] = COMMAND_LINE[args[at]]
                return args
    # A gunicorn started some other way would test gunicorn's class, not ours.
    raise AssertionError(f"cannot put the subclass into this gunicorn command line: {args}")


def pytest_deselected(items):
    _deselected.extend(item.nodeid for item in items)


def pytest_runtest_logreport(report):
    # A failure in setup or teardown counts; otherwise the call's outcome.
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.nodeid] = report.outcome


def pytest_sessionfinish(session):
    path = os.environ.get("GUNICORN_SUITE_REPORT")
    if path:
        report = {"outcomes": _outcomes, "deselected": _deselected, "commands": _commands}
        with open(path, "w", encoding="utf-8") as file:
            json.dump(report, file)
