"""Whether this worker process is shutting down: set on SIGTERM, read by /ready."""

from __future__ import annotations


class _Lifecycle:
    # Set once per worker process, from its SIGTERM handler. A plain attribute:
    # the only thing safe to touch in a signal handler under every worker class
    # (gevent patches threading primitives into hub-scheduled ones).
    draining = False


_lifecycle = _Lifecycle()


def start_draining() -> None:
    """Called from the worker's SIGTERM handler (server_hooks.post_worker_init)."""
    _lifecycle.draining = True


def is_draining() -> bool:
    return _lifecycle.draining


def reset() -> None:
    """For tests: draining is per process, so undo it between tests."""
    _lifecycle.draining = False
