"""gunicorn's sync worker, with error pages that carry the security headers and a request id.

Nothing else changes: gunicorn's sync worker serves one request at a time and has
no event loop to fix. Selected by gunicorn_config.py when GUNICORN_WORKER_CLASS=sync.
"""

from __future__ import annotations

from gunicorn.workers.sync import SyncWorker

from .error_pages import ErrorPages


class ErrorPagesSyncWorker(ErrorPages, SyncWorker):
    pass
