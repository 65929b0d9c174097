"""Small helpers shared by the process and container tests."""

import socket
import time
from collections.abc import Callable

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
