"""Small helpers shared by the process and container tests."""

import itertools
import os
import random
import socket
import threading
import time
from collections.abc import Callable

import requests

# The ports free_port() hands out: below the kernel's ephemeral range (32768 and up on
# Linux), where bind(0), every outgoing connection and Docker's published ports take
# theirs, and split between the run's test processes (pytest-xdist sets the two
# variables in each worker). A port is free only until its server binds it, and with
# reuse_port (the default) two servers bind one port without an error and split its
# requests: no two processes may pick the same one.
PORTS = range(20000, 32768)


def _this_process_ports() -> "itertools.cycle[int]":
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    # A worker xdist starts in place of a crashed one has the next number.
    index = int(worker) % count if worker.isdigit() else 0
    share = PORTS[index::count]
    # From a random place: another run on this machine (another checkout's tests)
    # starts elsewhere.
    start = random.randrange(len(share))  # noqa: S311 (no secret: a spread)
    return itertools.cycle([*share[start:], *share[:start]])


_PORTS = _this_process_ports()


def free_port() -> int:
    """A port of this process's share, free on 127.0.0.1 now; each one in turn, so two
    servers started together never get the same one."""
    for port in itertools.islice(_PORTS, len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # taken (by something else on this machine)
                continue
            return port
    raise AssertionError("no free port on 127.0.0.1 in this test process's share")


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll `condition` until it returns something truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


def wait_for_health(base_url: str, timeout: float = 15.0) -> requests.Response:
    def healthy():
        response = requests.get(f"{base_url}/health", timeout=1)
        return response if response.status_code == 200 else None

    return wait_for(healthy, timeout, f"{base_url}/health to answer 200")


class BackgroundRequest:
    """A GET sent from a thread, so a test can act while the request is in flight."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        self.response: requests.Response | None = None
        self.error: requests.RequestException | None = None
        self._thread = threading.Thread(target=self._send, args=(url, timeout))
        self._thread.start()

    def _send(self, url: str, timeout: float) -> None:
        try:
            self.response = requests.get(url, timeout=timeout)
        except requests.RequestException as error:
            self.error = error

    def outcome(self, timeout: float = 25.0) -> int | str:
        """The status code, or the name of the error; waits for the request to end."""
        self._thread.join(timeout)
        if self.response is not None:
            return self.response.status_code
        return type(self.error).__name__ if self.error else "unfinished"
