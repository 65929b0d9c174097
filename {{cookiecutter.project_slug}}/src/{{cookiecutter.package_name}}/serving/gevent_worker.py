"""Gunicorn's gevent worker, made to stop promptly when connections are kept alive.

Gunicorn 27's gevent worker decides to close a connection only when a request
starts, and does not wake connections idle in keep-alive. Platform routers keep
connections open, so on every SIGTERM the worker would sit out the whole graceful
timeout and then be killed. This subclass, once the worker is stopping:
- closes each connection right after the response in flight (nothing is cut), and
- shuts down connections that are idle between requests, as nginx does on a
  graceful stop.
Between two requests on one connection it lets the worker's other connections
run. It ends each connection with a lingering close (FIN, then read until the
peer's FIN, 2 s at most; not once stopping), as gunicorn's sync and gthread
workers do and its gevent worker does not: closing outright with request bytes
unread makes the kernel reset the connection, and the client can lose the
response it was sent. The linger waits in the connection's own greenlet, so no
other connection waits with it.
With a listening socket of its own (worker_listeners.py) it accepts every
waiting connection at each wakeup, not one.
It also keeps a SIGTERM that arrives while the worker boots (gunicorn patches the
standard library before installing the worker's signal handlers, and until then
the handler inherited from the master swallows the signal), and makes a timeout
abort end the process: gunicorn raises SystemExit in whichever greenlet runs,
where the request handler catches it and the worker lingers on.
Its error pages carry the security headers and a request id (error_pages.py).
Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=gevent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

import gevent
from gunicorn import util
from gunicorn.workers import ggevent
from gunicorn.workers.ggevent import GeventWorker

from .error_pages import ErrorPages

# gevent's own default: connections accepted per wakeup of the listening socket.
_GREEDY_MAX_ACCEPT = 100


class _GreedyStreamServer(ggevent.StreamServer):
    """A StreamServer that ignores gunicorn's `max_accept = 1`.

    Gunicorn accepts one connection per wakeup when workers share a socket, so that
    one worker cannot take them all. With a socket of its own, the kernel has
    already chosen this worker; one per wakeup then left a third of 50 connections
    waiting in the kernel queue for over a second under load (bench/).
    """

    @property
    def max_accept(self) -> int:
        return _GREEDY_MAX_ACCEPT

    @max_accept.setter
    def max_accept(self, _value: int) -> None:
        pass


class DrainingGeventWorker(ErrorPages, GeventWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()

    def init_process(self) -> None:
        signal.signal(signal.SIGTERM, self._exit_while_booting)
        super().init_process()  # patches, installs the real handlers, then serves

    def run(self) -> None:
        if self.cfg.reuse_port:
            # gunicorn builds its servers from this module global; the change only
            # lives in this worker process.
            ggevent.StreamServer = _GreedyStreamServer
        super().run()

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
        lingering = self._hold_for_lingering_close(client)
        try:
            super().handle(listener, client, addr)
        finally:
            self._open.discard(client)
            if lingering is not None:
                self._lingering_close(lingering)

    @staticmethod
    def _hold_for_lingering_close(client: socket.socket) -> socket.socket | None:
        """A duplicate descriptor, which keeps the connection open after gunicorn
        closes `client` outright, until the lingering close ends it."""
        try:
            return socket.fromfd(client.fileno(), client.family, client.type)
        except OSError:  # out of descriptors: gunicorn's close alone, as before
            return None

    def _lingering_close(self, duplicate: socket.socket) -> None:
        if self.alive:
            # gunicorn's own; the patched socket makes it wait in this greenlet only.
            util.close_graceful(duplicate)
        else:
            # Stopping: the connection just had a keep-alive response, and clients keep
            # those open (a requests Response the caller holds keeps its socket), so a
            # linger would hold the stop for its 2 s.
            util.close(duplicate)

    def handle_request(self, listener_name, req, sock, addr):
        self._busy.add(sock)
        try:
            result = super().handle_request(listener_name, req, sock, addr)
        finally:
            self._busy.discard(sock)
        if not self.alive:
            # gunicorn's keep-alive loop treats StopIteration as "close this connection".
            raise StopIteration
        # Yield before reading this connection's next request. A client that sends it
        # at once (a router, wrk) finds the socket readable, gevent never switches,
        # and this connection is served on and on while the worker's others wait:
        # measured p99 1.3 s at p50 3 ms on /health at 50 connections (bench/).
        # After the check above: a request read after a stop began is still answered.
        gevent.sleep(0)
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
