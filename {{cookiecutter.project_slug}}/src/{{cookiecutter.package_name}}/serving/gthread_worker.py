"""Gunicorn's gthread worker, made safe from clients that send headers slowly or leave badly.

Gunicorn 27's gthread worker hands a connection to a pool thread as soon as its
first bytes arrive; the thread then blocks until the headers are complete. A few
clients dribbling headers (slowloris) hold every thread, and /health stops
answering. Platform routers read whole headers before forwarding, but a container
reached directly (`docker run -p`, a NodePort, a TCP proxy) has no such shield.

This subclass reads each request's header block in the worker's event loop,
without a thread, and hands the connection to a thread only once the headers are
complete, their bytes given back to gunicorn's parser. Connections whose headers
take longer than HEADER_TIMEOUT seconds are closed; once the worker stops, they
get gunicorn's own stop linger (2 s), as its kept-alive connections do. Request
bodies are still read by the thread (the routers stream them). Plain HTTP only, as
the platforms' routers speak to the container: the bytes are read before gunicorn
would wrap the socket in TLS (certfile) or look for an HTTP/2 preface.

It also closes connections without stopping the loop. Gunicorn ends a connection it
will not keep alive with a lingering close (FIN, then read until the peer's FIN, for
up to 2 s, so that unread request bytes do not make the kernel reset the response),
and does it in the event loop: each client that kept its side open, or vanished, froze
every other connection of the worker for 2 s. Here the linger waits in the poller.

And it stops without cutting a request (a reload, tests/serving/test_reload.py). With a
listening socket of its own (worker_listeners.py) it takes every connection waiting in
that socket's queue and closes the socket as soon as it stops, rather than once its
last request is done: the kernel then hashes new connections onto the new workers'
sockets, where before they queued behind a stopping worker and were reset when it
closed. Kept-alive connections still idle when gunicorn's stop linger ends get the
lingering close too: one whose client sent a request in that instant sees the
connection close before any byte of a response (its request unread, which clients
retry), never a reset.

And a quick stop (SIGINT from a terminal's Ctrl-C, SIGQUIT from a master told SIGINT
or SIGQUIT) cannot deadlock it: see handle_quit.

Its error pages carry the security headers and a request id (error_pages.py).
Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=gthread.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from collections import deque
from functools import partial

from gunicorn import util
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from .error_pages import ErrorPages

# A real client, even on a slow mobile link, sends its headers within a second
# or two; routers send them at once.
HEADER_TIMEOUT = 10.0
# Bytes read per wake-up.
READ_SIZE = 65536
# A header block past this is closed unanswered, so no client makes a worker hold
# more per connection. It is above the most gunicorn's parser accepts with its
# default limits (100 fields of 8 KiB and a 4 KiB request line, about 820 KiB): no
# request gunicorn would serve is refused here.
MAX_BUFFERED_HEADER_BYTES = 1024 * 1024
# A lingering close waits this long for the peer's FIN and reads at most this much,
# gunicorn's own values (util.close_graceful). The loop checks deadlines at least once
# a second, so a peer that never closes holds its descriptor for 2 to 3 s.
LINGER_TIMEOUT = 2.0
# A stopping worker's idle kept-alive connection waits this long for the client's FIN
# after its own: a request that crossed that FIN arrives within a round trip, and is
# read and dropped; a client that keeps an idle connection open (a pooled session)
# would otherwise hold the stop for the whole LINGER_TIMEOUT.
STOP_LINGER_TIMEOUT = 0.5
MAX_LINGER_BYTES = 65536


class _BufferingConn(TConn):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_bytes = bytearray()
        self.header_deadline = 0.0
        self.polled = False  # registered with the poller, waiting for more bytes
        self.graceful_close = None  # the worker's lingering close, set on accept
        self.linger_polled = False
        self.lingered = 0  # bytes read and dropped while lingering

    def close(self, graceful: bool = False) -> None:
        if graceful and self.graceful_close is not None:
            self.graceful_close(self)
        else:
            super().close(graceful)


class HeaderBufferingThreadWorker(ErrorPages, ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buffering: deque[_BufferingConn] = deque()
        self._stop_deadline = float("inf")  # set once the worker starts stopping
        # Connections in their lingering close, in deadline order, with their deadline.
        self._lingering: dict[_BufferingConn, float] = {}

    def accept(self, listener) -> None:
        self._accept_one(listener)

    def handle_quit(self, sig, frame) -> None:
        # gunicorn's shuts the thread pool down first, which takes the pool's lock. A
        # signal's handler runs in the loop's thread, between two of its steps; when it
        # came while that thread was inside the pool's submit() starting a new thread
        # (a worker's first requests, holding that lock), the worker deadlocked and
        # served nothing until the master's SIGKILL, GUNICORN_GRACEFUL_TIMEOUT later
        # (about one Ctrl-C in 40 on a loaded machine). The pool needs no shutdown here:
        # at exit Python ends its threads all the same, the idle ones at once.
        Worker.handle_quit(self, sig, frame)

    def _accept_one(self, listener) -> bool:
        """Accept one connection; False if none was waiting."""
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno == errno.ECONNABORTED:  # the peer left while queued
                return True
            if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise
            return False
        self.nr_conns += 1
        conn = _BufferingConn(self.cfg, client, address, listener.getsockname())
        conn.graceful_close = self._linger
        self._read_headers(conn)
        return True

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive and self.cfg.reuse_port:
            for listener in self.sockets:
                self._take_queue_and_close(listener)

    def _take_queue_and_close(self, listener) -> None:
        """Accept every connection in this worker's own queue, then close the socket.

        The new workers are listening already (reloads.py waits for them), so between
        the last accept and the close only a connection arriving in that microsecond
        can be reset; until the close the kernel keeps hashing some onto this socket.
        """
        while self.nr_conns < self.worker_connections and self._accept_one(listener):
            pass
        listener.close()

    def on_client_socket_readable(self, conn, client) -> None:
        # A kept-alive connection wakes with its next request: buffer it the same way.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_headers(conn)

    def _read_headers(self, conn: _BufferingConn) -> None:
        conn.header_deadline = time.monotonic() + HEADER_TIMEOUT
        self._buffering.append(conn)
        # The bytes are usually there already (a kept-alive connection wakes with
        # its request, a new one sends it at once): read them now rather than
        # register and wait a turn of the loop, which costs two more system calls.
        if not self._on_header_bytes(conn):
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_header_bytes, conn)
            )
            conn.polled = True

    def _on_header_bytes(self, conn: _BufferingConn, _sock=None) -> bool:
        """Read what has arrived. True once the connection has stopped buffering:
        its headers are complete and it is queued for a thread, or it is closed."""
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:  # the client went away before sending a whole request
            self._drop(conn)
            return True
        conn.header_bytes += data
        if b"\r\n\r\n" not in conn.header_bytes and b"\n\n" not in conn.header_bytes:
            if len(conn.header_bytes) > MAX_BUFFERED_HEADER_BYTES:
                self._drop(conn)
                return True
            return False
        # Complete (or malformed enough for the parser to refuse): a thread's turn.
        self._stop_buffering(conn)
        conn.data_ready = True
        self.enqueue_req(conn)
        return True

    def handle(self, conn):
        if getattr(conn, "header_bytes", None):
            conn.init()
            conn.parser.unreader.unread(bytes(conn.header_bytes))
            conn.header_bytes.clear()
        return super().handle(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self._stop_deadline == float("inf"):
            self._stop_deadline = now + STOP_KEEPALIVE_LINGER
        # The deque is in deadline order: every connection gets the same timeout.
        while self._buffering and self._expired(self._buffering[0], now):
            self._drop(self._buffering[0])

    def _expired(self, conn: _BufferingConn, now: float) -> bool:
        return min(conn.header_deadline, self._stop_deadline) <= now

    def _stop_buffering(self, conn: _BufferingConn) -> None:
        if conn.polled:
            conn.polled = False
            with contextlib.suppress(KeyError, ValueError, OSError):  # the socket is gone
                self.poller.unregister(conn.sock)
        self._buffering.remove(conn)

    def _drop(self, conn: _BufferingConn) -> None:
        self._stop_buffering(conn)
        self.nr_conns -= 1
        conn.close()

    # Lingering close, in the event loop. gunicorn calls conn.close(graceful=True) from
    # finish_request, on the loop's thread, after counting the connection out.

    def _linger(self, conn: _BufferingConn, timeout: float = LINGER_TIMEOUT) -> None:
        if threading.current_thread() is not threading.main_thread():
            TConn.close(conn, graceful=True)  # gunicorn's own: blocks that thread only
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)  # FIN after the response
        except OSError:  # reset by the peer, or closed already
            util.close(conn.sock)
            return
        conn.sock.setblocking(False)
        # Its descriptor stays open: it counts against worker_connections until closed.
        self.nr_conns += 1
        self._lingering[conn] = time.monotonic() + timeout
        # A client that closed at once (or half-closed before) has its FIN here already.
        if not self._on_linger_bytes(conn):
            try:
                self.poller.register(
                    conn.sock, selectors.EVENT_READ, partial(self._on_linger_bytes, conn)
                )
            except (OSError, ValueError, KeyError):
                # Unwound here: an exception would reach gunicorn's finish_request,
                # which would count the connection out a second time.
                self._end_linger(conn)
                return
            conn.linger_polled = True

    def _on_linger_bytes(self, conn: _BufferingConn, _sock=None) -> bool:
        """Drop what the peer sent; True once its FIN came (or a reset, or too much)."""
        while conn.lingered < MAX_LINGER_BYTES:
            try:
                data = conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                data = b""
            if not data:
                break
            conn.lingered += len(data)
        self._end_linger(conn)
        return True

    def murder_keepalived(self, force: bool = False) -> None:
        # Called on every turn of the loop, and with force=True as the worker exits.
        if not self.alive and not force:
            self._linger_expired_keepalived()
        super().murder_keepalived(force)
        now = time.monotonic()
        while self._lingering:
            conn, deadline = next(iter(self._lingering.items()))
            if deadline > now and not force:
                break
            self._end_linger(conn)

    def _linger_expired_keepalived(self) -> None:
        """Stopping: end the kept-alive connections whose linger is over with a lingering
        close (gunicorn closes them outright, and a request arriving then was reset)."""
        now = time.monotonic()
        while self.keepalived_conns and self.keepalived_conns[0].timeout <= now:
            conn = self.keepalived_conns.popleft()
            with contextlib.suppress(OSError, KeyError, ValueError):  # unregistered already
                self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            self._linger(conn, STOP_LINGER_TIMEOUT)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # Stopping, gunicorn wakes for its kept-alive deadlines only: wake for the
        # lingering closes' too, so that they end on time.
        if not self.alive and self._lingering:
            first = next(iter(self._lingering.values()))
            timeout = max(0.0, min(timeout, first - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

    def _end_linger(self, conn: _BufferingConn) -> None:
        if conn.linger_polled:
            conn.linger_polled = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        del self._lingering[conn]
        self.nr_conns -= 1
        util.close(conn.sock)
