"""Liveness (/health) and readiness (/ready).

/health is what platforms and the Docker HEALTHCHECK poll: cheap, no dependency
checks, so a slow database never gets a healthy process restarted.
/ready answers 503 while any registered readiness check fails, and from the moment
the worker starts draining on SIGTERM, so routers stop sending it new work.
Add a check for each thing the app cannot serve without (a database, say) with
add_readiness_check() in create_app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify

from . import __version__
from .serving import is_draining

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], object]
_READINESS_CHECKS = "readiness_checks"


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Register `check` for /ready: it fails by returning a falsy value or raising."""
    app.extensions.setdefault(_READINESS_CHECKS, []).append((name, check))


@bp.route("/health", methods=["GET", "HEAD"])
def health():
    return jsonify(status="ok", service=current_app.config["SERVICE_NAME"], version=__version__)


@bp.get("/ready")
def ready():
    if is_draining():
        return jsonify(status="draining", failing="shutdown"), 503
    for name, check in current_app.extensions.get(_READINESS_CHECKS, []):
        try:
            passed = bool(check())
        except Exception:
            log.warning("readiness check %s raised", name, exc_info=True)
            passed = False
        if not passed:
            return jsonify(status="unavailable", failing=name), 503
    return jsonify(status="ready")
