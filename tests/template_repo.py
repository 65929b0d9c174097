"""The template as a git repository of its own, for the tools that need one.

copier and cruft read a template from git (a tag, or a commit). The tests copy this
checkout's files (committed or not, minus what .gitignore ignores) into a temporary
repository, tag it, and point the tools at that path: no network, and the real
repository's tags and history are never needed.
"""

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from conftest import TEMPLATE, TIMINGS

# Git without the user's configuration: no identity prompts, signing or hooks of theirs.
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"git {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def template_files() -> list[str]:
    """This checkout's files as a fresh clone would have them, plus uncommitted ones."""
    listed = git(TEMPLATE, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return [name for name in listed.split("\0") if name and (TEMPLATE / name).is_file()]


def snapshot(destination: Path, tag: str) -> Path:
    """A git repository holding this checkout's template, committed and tagged."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in template_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, target)
    git(destination, "init", "-q")
    commit(destination, tag)
    return destination


def commit(repository: Path, tag: str | None = None, message: str = "") -> None:
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "--allow-empty", "-m", message or tag or "change")
    if tag:
        git(repository, "tag", tag)


@contextmanager
def git_environment():
    """The tools' own git calls (copier, cruft) get the same clean configuration."""
    saved = {name: os.environ.get(name) for name in GIT_ENV}
    os.environ.update(GIT_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Stopwatch:
    """Seconds per labelled step (and counts), as one table after the run's summary.

    pytest keeps what a passing test prints to itself; the table goes through the
    test's `record_property` instead, and tests/conftest.py prints each one.
    """

    def __init__(self, record_property):
        self.record_property = record_property
        self.rows: list[str] = []

    @contextmanager
    def step(self, label: str):
        started = time.perf_counter()
        yield
        self.rows.append(f"  {label:<44} {time.perf_counter() - started:7.2f} s")

    def count(self, label: str, value: int) -> None:
        self.rows.append(f"  {label:<44} {value:7d}")

    def report(self, title: str) -> None:
        self.record_property(TIMINGS, "\n".join([title, *self.rows]))
