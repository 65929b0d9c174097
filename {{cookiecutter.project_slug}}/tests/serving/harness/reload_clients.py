"""HTTP clients that hold steady load across reloads and say exactly what each request saw.

Kept-alive clients reuse one connection as an HTTP client does: before reusing it they
look whether the server has closed it (readable at once: its FIN is there), and open a
new one if so, as urllib3 does. New-connection clients open one connection per request.

Each request is counted by the connection it went on: `reused` (a kept-alive
connection that served a request before) or `new` (a fresh client's, or a kept-alive
client's first or next after a close). Every request ends in one of:
- "ok": a whole response;
- "closed": the server closed the connection before any byte of a response (EOF where
  the status line should be). Only on a reused connection: the request was never
  read, and HTTP clients retry it (RFC 9112, 9.3.1);
- "reset": the connection was reset after the request was sent;
- "refused", "timeout", "partial" (a response cut short), or the error's name.
"""

from __future__ import annotations

import http.client
import select
import threading
import time
from collections import Counter

RETRIED_BY_CLIENTS = "closed"


class ReloadClients:
    """`kept` clients on kept-alive connections and `fresh` clients on new ones, GETting
    `path` until stopped; at most `seconds` in all, so a hung test still ends."""

    def __init__(self, port: int, path: str, kept: int, fresh: int, seconds: float) -> None:
        self.port, self.path = port, path
        self.deadline = time.monotonic() + seconds
        self.reused: Counter[str] = Counter()
        self.new: Counter[str] = Counter()
        self.failures: list[tuple[float, str, str]] = []  # (wall-clock time, connection, outcome)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._kept_client, daemon=True) for _ in range(kept)
        ] + [threading.Thread(target=self._fresh_client, daemon=True) for _ in range(fresh)]

    def __enter__(self) -> ReloadClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def total(self) -> int:
        with self._lock:
            return sum(self.reused.values()) + sum(self.new.values())

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self.deadline

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _kept_client(self) -> None:
        conn = self._connection()
        while self._running():
            if conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
                conn.close()  # closed by the server while idle: a new connection
            reused = conn.sock is not None
            outcome = self._get(conn, {})
            if outcome != "ok":
                conn.close()
            if reused:
                self._count(self.reused, "reused connection", outcome)
            else:
                self._count(self.new, "new connection", outcome)
        conn.close()

    def _fresh_client(self) -> None:
        while self._running():
            conn = self._connection()
            outcome = self._get(conn, {"Connection": "close"})
            conn.close()
            self._count(self.new, "new connection", outcome)

    def _count(self, counter: Counter[str], client: str, outcome: str) -> None:
        with self._lock:
            counter[outcome] += 1
            if outcome != "ok":
                self.failures.append((time.time(), client, outcome))

    def _get(self, conn: http.client.HTTPConnection, headers: dict[str, str]) -> str:
        try:
            conn.request("GET", self.path, headers=headers)
            response = conn.getresponse()
            response.read()
            return "ok" if response.status == 200 else str(response.status)
        except http.client.RemoteDisconnected:
            return RETRIED_BY_CLIENTS
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        except http.client.IncompleteRead:
            return "partial"
        except OSError as error:
            return type(error).__name__
