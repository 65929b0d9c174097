"""Liveness (/health), readiness (/ready) and what is running (/status).

/health is what platforms and the Docker HEALTHCHECK poll: cheap, no dependency
checks, so a slow database never gets a healthy process restarted.
/ready runs every registered readiness check, each within READY_CHECK_TIMEOUT, and
answers 200, or 503 naming the checks that failed; each with its time in ms. It
answers 503 from the moment the worker starts draining on SIGTERM, so routers stop
sending it new work. Add a check for each thing the app cannot serve without (a
database, say) with add_readiness_check() in create_app.
/status says which version and revision run, since when, on which worker class and
count: public, as cheap as /health, no host, path or secret in it.
The serving machinery runs the checks and gathers the facts (serving/readiness.py,
serving/status.py); what the answers contain is in docs/serving.md, Endpoints.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify

from . import __version__
from .serving import check_readiness, service_status

bp = Blueprint("health", __name__)

ReadinessCheck = Callable[[], object]
_READINESS_CHECKS = "readiness_checks"


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Register `check` for /ready: it fails by returning a falsy value, raising or
    taking longer than READY_CHECK_TIMEOUT. It runs in a thread of its own, within
    the app context."""
    app.extensions.setdefault(_READINESS_CHECKS, []).append((name, check))


@bp.route("/health", methods=["GET", "HEAD"])
def health():
    return jsonify(status="ok", service=current_app.config["SERVICE_NAME"], version=__version__)


@bp.get("/ready")
def ready():
    return check_readiness(current_app.extensions.get(_READINESS_CHECKS, []))


@bp.get("/status")
def status():
    return service_status(current_app.config["SERVICE_NAME"], __version__)
