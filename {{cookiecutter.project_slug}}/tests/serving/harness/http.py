"""Small helpers shared by the process and container tests."""

import socket
import threading
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
