"""A real Redis for the job tests: TEST_REDIS_URL's, or a throwaway redis-server.

The throwaway server listens on 127.0.0.1 at a free port, in a folder of the test
session, and persists nothing unless a test asks for appendonly (the broker restart).
Without the binary the tests skip with one reason, or fail under REQUIRE_REDIS=1
(CI, which installs Debian's redis-server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.http import free_port, wait_for


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no redis-server on PATH (apt-get install redis-server), and TEST_REDIS_URL unset"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    return binary


class RedisServer:
    """One redis-server process; stop() always ends it, restart() keeps its port and data."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.binary = redis_binary()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.log = folder / "redis.log"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--logfile", str(self.log),
            "--daemonize", "no",
            # No snapshots; the append-only file only where a test needs data to
            # outlive a restart, written on every command (appendfsync always): what
            # "no job lost" needs of a broker that restarts (docs/background-jobs.md).
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(self.ready, 10, f"redis-server on port {self.port} ready")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited: {self.lines()[-5:]}")
        return any("Ready to accept connections" in line for line in self.lines())

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Kill it (no shutdown save: as a crash) and start it again on the same port."""
        self.stop()
        self.log.unlink(missing_ok=True)
        self.start()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL's Redis, or a throwaway redis-server for the session (a plugin of
    tests/conftest.py: your job tests and the template's share it)."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()
