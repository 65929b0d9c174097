"""Gunicorn's gevent worker, made to stop promptly when connections are kept alive.

Gunicorn 27's gevent worker decides to close a connection only when a request
starts, and does not wake connections idle in keep-alive. Platform routers keep
connections open, so on every SIGTERM the worker would sit out the whole graceful
timeout and then be killed. This subclass, once the worker is stopping:
- closes each connection right after the response in flight (nothing is cut), and
- shuts down connections that are idle between requests, as nginx does on a
  graceful stop.
Selected by gunicorn.conf.py when GUNICORN_WORKER_CLASS=gevent.
"""

from __future__ import annotations

import contextlib
import socket

import gevent
from gunicorn.workers.ggevent import GeventWorker


class DrainingGeventWorker(GeventWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()

    def handle(self, listener, client, addr) -> None:
        self._open.add(client)
        try:
            super().handle(listener, client, addr)
        finally:
            self._open.discard(client)

    def handle_request(self, listener_name, req, sock, addr):
        self._busy.add(sock)
        try:
            result = super().handle_request(listener_name, req, sock, addr)
        finally:
            self._busy.discard(sock)
        if not self.alive:
            # gunicorn's keep-alive loop treats StopIteration as "close this connection".
            raise StopIteration
        return result

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        # Signal handlers must not block: close the idle connections in a greenlet.
        gevent.spawn(self._close_idle_connections)

    def _close_idle_connections(self) -> None:
        for client in list(self._open - self._busy):
            with contextlib.suppress(OSError):  # already closed by the peer
                client.shutdown(socket.SHUT_RDWR)
