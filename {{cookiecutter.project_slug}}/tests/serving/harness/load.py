"""A bounded load: client threads, each with a keep-alive session, GETting one path
until stopped, `max_requests` in all or `seconds` past, whichever comes first. Each
outcome is kept with its times, so a test can look at one phase of a fault."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests

from harness.http import wait_for


@dataclass
class Outcome:
    started: float
    ended: float
    status: str  # the HTTP status, or the name of the client's error


class Load:
    def __init__(
        self,
        url: str,
        path: str,
        clients: int,
        max_requests: int,
        seconds: float,
        timeout: float = 10,
    ) -> None:
        self.url, self.path, self.timeout = url, path, timeout
        self.max_requests = max_requests
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def results(self) -> Counter[str]:
        with self._lock:
            return Counter(outcome.status for outcome in self.outcomes)

    @property
    def total(self) -> int:
        with self._lock:
            return len(self.outcomes)

    @property
    def failed(self) -> int:
        with self._lock:
            return sum(outcome.status != "200" for outcome in self.outcomes)

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """The requests sent after `start` that ended before `end`."""
        with self._lock:
            return [o for o in self.outcomes if o.started >= start and o.ended <= end]

    def wait_for_requests(self, start: float, count: int) -> None:
        """Until `count` requests sent after `start` have their answer."""
        wait_for(
            lambda: len(self.between(start)) >= count,
            self.seconds / 2,
            f"{count} requests after the phase began",
        )

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                with self._lock:
                    if len(self.outcomes) >= self.max_requests:
                        return
                started = time.monotonic()
                try:
                    response = session.get(f"{self.url}{self.path}", timeout=self.timeout)
                    status = str(response.status_code)
                except requests.RequestException as error:
                    status = type(error).__name__
                with self._lock:
                    self.outcomes.append(Outcome(started, time.monotonic(), status))
