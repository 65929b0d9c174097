"""`make dev` in a baked project: PORT as `make run` reads it, and a readable start.

The shared venv stands in for the project's .venv (`-o` keeps make from creating one),
the project's src/ is on PYTHONPATH, and DATA_DIR (the dev secret with it) is the
test's own, so the session's bake is not written to.
"""

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from processes import free_port, stop

VENV = Path(sys.executable).parent.parent
# The reloader starts the app in a child process: a second or two on a loaded machine.
STARTED_TIMEOUT = 60


def make_dev(project: Path, data: Path, **environment: str) -> subprocess.Popen:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.Popen(
        [make, "--no-print-directory", "-C", str(project), "dev", f"VENV={VENV}",
         f"DATA_DIR={data}", "-o", f"{VENV}/bin/gunicorn"],
        env={**os.environ, "PYTHONPATH": str(project / "src"), **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, Flask's reloader and its child: one group to stop
    )  # fmt: skip


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """Its output, line by line, as it comes (a thread reads; the test polls)."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_make_dev_listens_on_port_and_starts_with_one_line_per_line(bake, tmp_path):
    project, port = bake(), free_port()
    process = make_dev(project, tmp_path / "var", PORT=str(port), LOG_FORMAT="text")
    seen: list[str] = []
    try:
        lines, deadline = lines_of(process), time.monotonic() + STARTED_TIMEOUT
        running = f" * Running on http://127.0.0.1:{port}"
        while not any(line.endswith(running) for line in seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {running!r} line:\n" + "\n".join(seen)
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, "make dev exited:\n" + "\n".join(seen)
            seen.append(line)
        # Werkzeug's warning and its address are lines of their own, not one with a \n.
        assert not [line for line in seen if "\\n" in line], seen
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        stop(process)


def test_make_dev_refuses_a_bad_port_with_one_line(bake, tmp_path):
    process = make_dev(bake(), tmp_path / "var", PORT="eighty")
    try:
        output, _ = process.communicate(timeout=STARTED_TIMEOUT)
    finally:
        stop(process)
    assert process.returncode != 0
    assert [line for line in output.splitlines() if "PORT" in line and "eighty" in line], output
    assert "Traceback" not in output
