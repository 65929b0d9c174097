"""Start a gunicorn master on 127.0.0.1, time it, and always stop it."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from procfs import children, cpu_seconds

PROJECT = Path(__file__).resolve().parent.parent
BOOT_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 60
# A worker that burns less than this share of a CPU has finished importing the app.
IDLE_CPU_SHARE = 0.05


@dataclass
class ServerSpec:
    """One way of running gunicorn: the command after `python` and its environment."""

    name: str
    arguments: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # Variables of the bench's own environment the server must not inherit.
    unset: tuple[str, ...] = ()


@dataclass
class Running:
    process: subprocess.Popen
    port: int
    log: Path
    first_200_seconds: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(spec: ServerSpec, log_dir: Path) -> Iterator[Running]:
    """Start `spec`; on exit kill its whole process group, whatever happened."""
    port = free_port()
    log = log_dir / f"{spec.name}.log"
    env = {
        **{name: value for name, value in os.environ.items() if name not in spec.unset},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        # The project's package from src/ and the benchmark apps as bench.apps.
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT)]),
        **spec.env,
    }
    # Its own temporary folder, removed after the SIGKILL below: what the master makes
    # there (the metrics' folder) would otherwise stay in /tmp after every run.
    temporary = Path(tempfile.mkdtemp(prefix="bench-server-"))
    env["TMPDIR"] = str(temporary)
    arguments = [a.replace("{port}", str(port)) for a in spec.arguments]
    with log.open("wb") as sink:
        started = time.monotonic()
        # Its own session, so that one killpg reaches the master and every worker.
        process = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=PROJECT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        first_200 = _wait_for_first_200(process, port, log) - started
        yield Running(process, port, log, first_200)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        shutil.rmtree(temporary, ignore_errors=True)


def wait_until_workers_idle(server: Running, workers: int) -> None:
    """Wait until `workers` workers run and none is still importing the app.

    The first 200 comes from the first worker up; loading the others meanwhile
    would measure start-up, not serving.
    """
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    window = 0.25
    while time.monotonic() < deadline:
        pids = children(server.process.pid)
        before = {pid: cpu_seconds([pid]) for pid in pids}
        time.sleep(window)
        busy = [pid for pid in pids if cpu_seconds([pid]) - before[pid] > window * IDLE_CPU_SHARE]
        if len(pids) >= workers and not busy:
            return
    raise RuntimeError(f"workers still booting after {BOOT_TIMEOUT_SECONDS}s, see {server.log}")


def wait_until_drained(server: Running) -> None:
    """Wait until /health answers promptly: the last load may have left a backlog.

    wrk stops with requests still queued (a sync worker serves /io at 500 connections
    seconds late); the next measurement must not start behind them.
    """
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        asked = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200 and time.monotonic() - asked < 0.2:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"server still busy {DRAIN_TIMEOUT_SECONDS}s after the load")


def seconds_to_exit_on_sigterm(server: Running) -> float:
    """SIGTERM the master while a router-like client holds an idle keep-alive connection."""
    router = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        router.request("GET", "/health")
        router.getresponse().read()
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return math.inf  # reported as "over 30 s"; running() kills it
        return time.monotonic() - signalled
    finally:
        router.close()


def _wait_for_first_200(process: subprocess.Popen, port: int, log: Path) -> float:
    """Poll /health every 10 ms; the monotonic time of the first 200."""
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}, see {log}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return time.monotonic()
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.01)
    raise RuntimeError(f"no 200 from /health within {BOOT_TIMEOUT_SECONDS}s, see {log}")
