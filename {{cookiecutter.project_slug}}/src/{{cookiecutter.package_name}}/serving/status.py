"""/status's facts: what is running, which version and revision, since when, on what.

`service_status(service, version)` answers with the service's name and version (your
health.py passes them: config's SERVICE_NAME and the package's __version__), the
revision the platform deployed (the first of settings.REVISION_VARIABLES that is
set: Cloud Run's K_REVISION, Railway's, Render's or Heroku's commit, Fly's image
reference, SOURCE_VERSION), when the service started (the master's boot, which
every worker inherits; outside gunicorn, when this module was imported), and
the worker class and count the settings chose (WEB_CONCURRENCY or the sizing of
worker_sizing.py: a `--workers` in GUNICORN_CMD_ARGS is not seen here; the boot
line has gunicorn's effective value).

Gathered once per worker, on the first call, then the same dictionary every time:
as cheap as /health, no file or network read per request. Nothing in it names a
host, a path, a user or a secret, and no environment variable is copied but the
revision.
"""

from __future__ import annotations

import threading
import time

from .settings import boot_time, current_settings
from .worker_sizing import worker_count

# Outside gunicorn (a test client, `make dev`), the start is this module's import.
_IMPORTED = time.time()
# This worker's facts, once gathered in a boot; keyed by what the caller passes.
_facts: dict[tuple[str, str], dict] = {}
_lock = threading.Lock()


def service_status(service: str, version: str) -> dict:
    """The JSON body of /status: gathered once per worker in the service; outside a
    boot (tests, `make dev`) each time, from the environment as it is now."""
    booted = boot_time()
    if booted is None:
        return _gather(service, version, _IMPORTED)
    facts = _facts.get((service, version))
    if facts is None:
        with _lock:
            facts = _facts.setdefault((service, version), _gather(service, version, booted))
    return dict(facts)


def _gather(service: str, version: str, started: float) -> dict:
    settings = current_settings()
    return {
        "service": service,
        "version": version,
        "revision": settings.revision,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "worker_class": settings.worker_class,
        "workers": worker_count(settings).workers,
    }
