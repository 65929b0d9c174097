"""Gunicorn's gthread worker, made safe from clients that send their headers slowly.

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
Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=gthread.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import time
from collections import deque
from functools import partial

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

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


class _BufferingConn(TConn):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_bytes = bytearray()
        self.header_deadline = 0.0
        self.polled = False  # registered with the poller, waiting for more bytes


class HeaderBufferingThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buffering: deque[_BufferingConn] = deque()
        self._stop_deadline = float("inf")  # set once the worker starts stopping

    def accept(self, listener) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _BufferingConn(self.cfg, client, address, listener.getsockname())
        self._read_headers(conn)

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
