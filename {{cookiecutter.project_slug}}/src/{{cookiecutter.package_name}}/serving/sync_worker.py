"""gunicorn's sync worker, with error pages that carry the security headers and a request
id, and one loop that does less per request when it listens on two sockets.

gunicorn's sync worker serves one request at a time and has no event loop to fix.
With one listening socket it accepts while connections wait and selects only when none
does. With two (METRICS_PORT's beside the main one) it ran another loop: a select()
and a getppid() before every accept, two system calls a request. Measured side by
side, that loop made metrics cost a sync worker 11 to 26 µs a request more than this
one does (docs/performance.md). run_for_multiple here runs as the loop for one does:
it accepts from the sockets select() found ready, in turns, until none has a
connection waiting, and selects again at least every RESELECT_SECONDS, so a scrape of
the metrics port is never starved by a busy main port.
Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=sync.
"""

from __future__ import annotations

import errno
import time

from gunicorn.workers.sync import StopWaiting, SyncWorker

from .error_pages import ErrorPages

# How long the worker accepts from the sockets one select() found ready before it asks
# again which are: a connection to another socket (a scrape) waits this long behind a
# main port that always has one waiting, plus the request in progress and one more.
# One select per 50 ms costs nothing.
RESELECT_SECONDS = 0.05
# accept()'s "nothing waits now" (another worker took it; the client gave up).
_NOTHING_WAITING = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED)


class ErrorPagesSyncWorker(ErrorPages, SyncWorker):
    def run_for_multiple(self, timeout):
        ready: list = []  # the sockets to accept from before the next select
        reselect_at = 0.0
        while self.alive:
            self.notify()
            if ready and time.monotonic() < reselect_at:
                # In turns: a busy main port never keeps a ready metrics port waiting.
                listener = ready.pop(0)
                if self._accept_waiting(listener):
                    ready.append(listener)  # it may have more: after the others' turn
                continue
            # gunicorn's loop checks its parent before each wait too.
            if not self.is_parent_alive():
                return
            try:
                found = self.wait(timeout)  # select(); None when it timed out
            except StopWaiting:
                return
            ready = [listener for listener in found or () if listener != self.PIPE[0]]
            reselect_at = time.monotonic() + RESELECT_SECONDS

    def _accept_waiting(self, listener) -> bool:
        """Serve one connection waiting on `listener`; False if none was."""
        try:
            self.accept(listener)
        except OSError as error:
            if error.errno not in _NOTHING_WAITING:
                raise
            return False
        return True
