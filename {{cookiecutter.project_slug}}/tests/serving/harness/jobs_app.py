"""Probe jobs for the worker tests: each says through a file what it did, so a test
waits on observable state (a file, a job's status), never on a sleep."""

import os
import time
from pathlib import Path


def record(folder: str, name: str) -> str:
    """Append this job's name to `folder`/done, one line per run."""
    with open(Path(folder) / "done", "a") as done:
        done.write(f"{name}\n")
    return name


def wait_for_release(folder: str, name: str) -> str:
    """Say `started`, then wait until the test writes `folder`/release (or never)."""
    folder = Path(folder)
    (folder / f"{name}.started").write_text(str(os.getpid()))
    while not (folder / "release").exists():
        time.sleep(0.02)
    return record(str(folder), name)


def fail(message: str) -> None:
    raise RuntimeError(message)
