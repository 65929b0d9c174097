"""Gunicorn's gevent worker, made to stop promptly when connections are kept alive.

Gunicorn 27's gevent worker decides to close a connection only when a request
starts, and does not wake connections idle in keep-alive. Platform routers keep
connections open, so on every SIGTERM the worker would sit out the whole graceful
timeout and then be killed. This subclass, once the worker is stopping:
- closes each connection right after the response in flight (nothing is cut), and
- shuts down connections that are idle between requests, as nginx does on a
  graceful stop.
It also keeps a SIGTERM that arrives while the worker boots (gunicorn patches the
standard library before installing the worker's signal handlers, and until then
the handler inherited from the master swallows the signal), and makes a timeout
abort end the process: gunicorn raises SystemExit in whichever greenlet runs,
where the request handler catches it and the worker lingers on.
Selected by gunicorn.conf.py when GUNICORN_WORKER_CLASS=gevent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

import gevent
from gunicorn.workers.ggevent import GeventWorker


class DrainingGeventWorker(GeventWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()

    def init_process(self) -> None:
        signal.signal(signal.SIGTERM, self._exit_while_booting)
        super().init_process()  # patches, installs the real handlers, then serves

    def _exit_while_booting(self, sig, frame) -> None:
        self.alive = False  # run() then stops at once

    def handle_abort(self, sig, frame) -> None:
        # SIGABRT: the master saw no heartbeat for GUNICORN_TIMEOUT (a request
        # blocked the event loop). The master replaces this worker once it is gone.
        self.alive = False
        self.cfg.worker_abort(self)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

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
            # Shut down through a duplicate descriptor: the connection ends all the
            # same, and its greenlet reads a clean EOF. gevent's own shutdown() would
            # cancel that greenlet with EBADF, which gunicorn logs as an error.
            # OSError: the peer closed it already.
            with (
                contextlib.suppress(OSError),
                socket.fromfd(client.fileno(), client.family, client.type) as duplicate,
            ):
                duplicate.shutdown(socket.SHUT_RDWR)
