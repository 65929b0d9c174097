"""Gunicorn's gevent worker, made to stop promptly when connections are kept alive.

Gunicorn 27's gevent worker decides to close a connection only when a request
starts, and does not wake connections idle in keep-alive. Platform routers keep
connections open, so on every SIGTERM the worker would sit out the whole graceful
timeout and then be killed. This subclass, once the worker is stopping:
- closes each connection right after the response in flight (nothing is cut), and
- ends connections that are idle between requests, as nginx does on a graceful
  stop: it sends its FIN after IDLE_GRACE (HTTP clients see it before they reuse the
  connection, and open a new one), drops unanswered a request that crossed it
  (the client sees the close before any byte of a response, and retries), and
  shuts the connection down FIN_WAIT seconds later if the client has not closed
  it by then. Shut down outright at once, a request that crossed the close
  was reset (17 in 3 reloads under load, tests/serving/test_reload.py).
Between two requests on one connection it lets the worker's other connections
run. It ends each connection with a lingering close (FIN, then read until the
peer's FIN, 2 s at most; not once stopping), as gunicorn's sync and gthread
workers do and its gevent worker does not: closing outright with request bytes
unread makes the kernel reset the connection, and the client can lose the
response it was sent. The linger waits in the connection's own greenlet, so no
other connection waits with it.
With a listening socket of its own (worker_listeners.py) it accepts every
waiting connection at each wakeup, not one, and takes every connection still
queued when it stops before it closes the socket (the kernel resets those).
It makes a timeout abort end the process: gunicorn raises SystemExit in whichever
greenlet runs, where the request handler catches it and the worker lingers on.
A SIGTERM while it boots (gevent patches the standard library before gunicorn
installs the worker's handlers) exits at once: server_hooks.post_fork's handler
is in place from the fork on, and this class leaves it there.
Its error pages carry the security headers and a request id (error_pages.py).
Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=gevent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

import gevent
from gunicorn import util
from gunicorn.workers import ggevent
from gunicorn.workers.ggevent import GeventWorker

from .error_pages import ErrorPages

# gevent's own default: connections accepted per wakeup of the listening socket.
_GREEDY_MAX_ACCEPT = 100
# How long a stopping worker waits for the next request on a connection whose
# response was kept alive, gunicorn's own linger (STOP_KEEPALIVE_LINGER); it is
# answered with "Connection: close".
STOP_LINGER = 2.0
# How long a connection waits, after the stopping worker's FIN, before it is shut
# down: a request that crossed the FIN arrives within a round trip, and is read and
# dropped. HTTP clients close once they see the FIN, or when they next use the
# connection; a pooled idle one would otherwise hold the stop.
FIN_WAIT = 0.5
# How long a connection idle when the worker starts to stop keeps waiting for its next
# request before the FIN: a small part of a stop, which stays prompt (a pooled idle
# connection holds it this long, plus FIN_WAIT), and it turned most of the requests
# that crossed a FIN under load into answered ones (tests/serving/test_reload.py).
IDLE_GRACE = 0.25


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

    # This worker's servers (the class lives in one worker process).
    started: list[_GreedyStreamServer] = []

    def start(self) -> None:
        super().start()
        self.started.append(self)

    def close(self) -> None:
        # Stopping: serve what waits in this socket's own queue, which the close would
        # reset. The new workers listen already (reloads.py waits for them).
        if self.closed:
            return
        while not self.full() and (accepted := self.do_read()):
            self.do_handle(*accepted)
        super().close()


class _NamedListener:
    """A listening socket that knows its address once closed.

    gunicorn's handler asks the listening socket its address first; a connection
    accepted just before the socket closed (the queue taken at a stop) then failed with
    EBADF and was reset.
    """

    def __init__(self, listener: socket.socket, name) -> None:
        self._listener, self._name = listener, name

    def getsockname(self):
        return self._name

    def __getattr__(self, attribute: str):
        return getattr(self._listener, attribute)


class DrainingGeventWorker(ErrorPages, GeventWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()
        self._served: set[socket.socket] = set()  # answered one request at least
        self._closing: set[socket.socket] = set()  # sent their FIN while stopping
        self._listener_names: dict[int, object] = {}  # id of a listening socket: its address

    def run(self) -> None:
        if self.cfg.reuse_port:
            # gunicorn builds its servers from this module global; the change only
            # lives in this worker process.
            ggevent.StreamServer = _GreedyStreamServer
        self._listener_names = {id(listener): listener.getsockname() for listener in self.sockets}
        super().run()

    def handle_abort(self, sig, frame) -> None:
        # SIGABRT: the master saw no heartbeat for GUNICORN_TIMEOUT (a request
        # blocked the event loop). The master replaces this worker once it is gone.
        self.alive = False
        self.cfg.worker_abort(self)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    def handle(self, listener, client, addr) -> None:
        if id(listener) in self._listener_names:
            listener = _NamedListener(listener, self._listener_names[id(listener)])
        self._open.add(client)
        lingering = self._hold_for_lingering_close(client)
        try:
            super().handle(listener, client, addr)
        finally:
            self._open.discard(client)
            self._served.discard(client)
            self._closing.discard(client)
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
        if sock in self._closing:
            # A request that crossed the FIN: unanswered, as if it came a moment later.
            raise StopIteration
        self._busy.add(sock)
        try:
            result = super().handle_request(listener_name, req, sock, addr)
        finally:
            self._busy.discard(sock)
            self._served.add(sock)
        if not self.alive:
            # The worker began to stop while this request ran, after gunicorn had chosen
            # keep-alive for its response (a request read once stopping is answered
            # "Connection: close" and closed by gunicorn itself). Closed outright now, the
            # client's next request, likely on its way, would be reset. It gets the
            # linger to send it instead (answered "Connection: close"), then the FIN.
            gevent.spawn_later(STOP_LINGER, self._end_after_response, sock)
            return result
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
        # The listening sockets first, at once, not at gunicorn's next tick (up to 1 s):
        # meanwhile the clients answered "Connection: close" reconnect, and those the
        # kernel still hashed onto this worker's socket raced its close.
        for server in _GreedyStreamServer.started:
            server.close()
        idle = self._open - self._busy
        # A client under load sends its next request within milliseconds of a response:
        # it gets the answer, with "Connection: close", rather than the FIN.
        gevent.sleep(IDLE_GRACE)
        for client in idle & self._served:
            self._end_after_response(client)
        # Connections that have not sent their first request yet (accepted a moment
        # ago) get the linger to send it; it is answered with "Connection: close".
        gevent.sleep(STOP_LINGER - IDLE_GRACE)
        for client in idle - self._served:
            if client in self._open and client not in self._busy:
                self._shutdown(client, socket.SHUT_RDWR)

    def _end_after_response(self, client: socket.socket) -> None:
        """FIN now; a request that crossed it is read and dropped (handle_request); shut
        down FIN_WAIT seconds later if the client has not closed it by then."""
        if client in self._closing or client in self._busy or client not in self._open:
            return  # closing already, or answering a request: gunicorn closes it after
        self._closing.add(client)
        self._shutdown(client, socket.SHUT_WR)
        gevent.spawn_later(FIN_WAIT, self._shut_if_open, client)

    def _shut_if_open(self, client: socket.socket) -> None:
        if client in self._open:  # the client kept it open: its greenlet reads EOF now
            self._shutdown(client, socket.SHUT_RDWR)

    @staticmethod
    def _shutdown(client: socket.socket, how: int) -> None:
        # Through a duplicate descriptor: the connection ends all the same, and its
        # greenlet reads a clean EOF. gevent's own shutdown() would cancel that greenlet
        # with EBADF, which gunicorn logs as an error. OSError: the peer closed it already.
        with (
            contextlib.suppress(OSError),
            socket.fromfd(client.fileno(), client.family, client.type) as duplicate,
        ):
            duplicate.shutdown(how)
