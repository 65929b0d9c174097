"""The operations probe app: slow and streamed routes, /ready with checks, /status. Never deployed.

Gunicorn loads it as `harness.ops_app:app`. Built like probe_app.py (serving.init_app,
never your create_app), but its /ready and /status are the machinery's own
(serving.check_readiness, serving.service_status), as your health.py wires them.
Its readiness checks do what the probe's query string asks (they run with the
request's context copied): `?fail=1` makes `flag` return False, `?raise=1` makes
`raising` raise, `?hang=1` makes `hang` hang, logging HANG_STARTED first.
"""

import logging
import time

from flask import Blueprint, Flask, Response, jsonify, request

from {{ cookiecutter.package_name }} import serving

log = logging.getLogger("probe.ops")
# Logged by the `hang` check as it starts hanging: one line per thread it holds.
HANG_STARTED = "hang check started"
# What the `raising` check's exception says: it must reach the log, never the body.
RAISED_MESSAGE = "db.internal.example:5432 refused the connection"
# The longest a route or a check here waits: nothing a test forgets outlives it long.
LONGEST = 30.0
SERVICE = "ops-probe"
VERSION = "9.8.7"

checks = Blueprint("_ops_checks", __name__)
ops = Blueprint("_ops", __name__, url_prefix="/_ops")


def quick() -> bool:
    return True


def flag() -> bool:
    return request.args.get("fail") != "1"


def raising() -> bool:
    if request.args.get("raise") == "1":
        raise ConnectionRefusedError(RAISED_MESSAGE)
    return True


def hang() -> bool:
    if request.args.get("hang") == "1":
        log.info(HANG_STARTED)
        time.sleep(LONGEST)
    return True


READINESS_CHECKS = [("quick", quick), ("flag", flag), ("raising", raising), ("hang", hang)]


@checks.route("/health", methods=["GET", "HEAD"])
def health():
    return jsonify(status="ok")


@checks.get("/ready")
def ready():
    return serving.check_readiness(READINESS_CHECKS)


@checks.get("/status")
def status():
    return serving.service_status(SERVICE, VERSION)


@ops.get("/wait/<int:ms>")
def wait(ms):
    """Answers after `ms` milliseconds: a route whose rule is not its path."""
    time.sleep(min(ms / 1000, LONGEST))
    return jsonify(waited_ms=ms)


@ops.get("/stream/<int:ms>")
def stream(ms):
    """The view returns at once and the first chunk goes out at once; the last one
    comes `ms` milliseconds later: slow only at its end."""

    def generate():
        yield "first\n"
        time.sleep(min(ms / 1000, LONGEST))
        yield "last\n"

    return Response(generate(), mimetype="text/plain")


def create_ops_app() -> Flask:
    app = Flask(__name__)
    serving.init_app(app)
    app.config.update(SERVICE_NAME=SERVICE)
    app.register_blueprint(checks)
    app.register_blueprint(ops)
    return app


app = create_ops_app()
