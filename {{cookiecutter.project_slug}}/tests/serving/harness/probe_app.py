"""The serving tests' own app: the serving machinery around probe endpoints. Never deployed.

Tests run it in place of `{{ cookiecutter.package_name }}.serving.wsgi:app` (and mount it into
containers). It is built the way your create_app builds yours (`serving.init_app`) but
never calls it: the machinery is tested on its own, whatever your app's start-up time,
memory, routes or error pages. It has /health and /ready of its own (the image's
HEALTHCHECK polls /health), its own error shape, and every other route under /_probe/.
"""

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from {{ cookiecutter.package_name }} import serving

log = logging.getLogger("probe")
# Logged when /_probe/slow or /_probe/spin starts, so a test knows without sleeping.
SLOW_STARTED = "slow request started"
SPIN_STARTED = "spin request started"

probe = Blueprint("_probe", __name__, url_prefix="/_probe")
# Where platforms and the image's HEALTHCHECK look: the paths your app answers too.
checks = Blueprint("_probe_checks", __name__)


@checks.route("/health", methods=["GET", "HEAD"])
def health():
    return jsonify(status="ok")


@checks.get("/ready")
def ready():
    """503 from the moment this worker drains (SIGTERM), as routers expect of /ready."""
    if serving.is_draining():
        return jsonify(status="draining"), 503
    return jsonify(status="ready")


@probe.get("/slow")
def slow():
    seconds = min(float(request.args.get("seconds", "2")), 20.0)
    log.info(SLOW_STARTED)
    time.sleep(seconds)
    return jsonify(slept=seconds)


@probe.get("/url")
def url():
    """The request's external URL, to check the scheme gunicorn derived from proxies."""
    return jsonify(url=request.url, scheme=request.scheme)


@probe.get("/patched")
def patched():
    """Whether gevent patched the standard library in this worker."""
    monkey = sys.modules.get("gevent.monkey")
    return jsonify(socket=bool(monkey and monkey.is_module_patched("socket")))


@probe.get("/spin")
def spin():
    """Busy CPU without yielding: hangs a sync worker, and a gevent worker's whole hub."""
    deadline = time.monotonic() + min(float(request.args.get("seconds", "2")), 20.0)
    log.info(SPIN_STARTED)
    while time.monotonic() < deadline:
        pass
    return jsonify(spun=True)


@probe.post("/echo")
def echo():
    """Reads the whole body, so body framing and size limits are exercised."""
    return jsonify(size=len(request.get_data()))


@probe.post("/json")
def json_body():
    """Parses a JSON body: the size limit must hold for get_json() too."""
    return jsonify(items=len(request.get_json()))


@probe.post("/form")
def form_body():
    """Parses a url-encoded or multipart form: the size limit must hold for forms too."""
    return jsonify(
        fields=len(request.form), files=sum(len(f.read()) for f in request.files.values())
    )


@probe.get("/redirect-to-url")
def redirect_to_url():
    """Redirects to this app's own URL built by url_for, as a view would."""
    return redirect(url_for("_probe.url"))


@probe.post("/data/<name>")
def append_data(name):
    """Appends the body to a file in the data location, as an app keeping state would."""
    path = Path(current_app.instance_path) / Path(name).name
    with path.open("ab") as file:
        file.write(request.get_data())
    return jsonify(path=str(path), size=path.stat().st_size, mode=oct(path.stat().st_mode & 0o777))


def probe_error(error: HTTPException):
    """Its own error shape, like no app's: a test that finds it knows the app's handler answered."""
    response = error.get_response()
    if request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html":
        response.set_data(f"<!doctype html><title>probe</title><p>probe error {error.code}</p>")
        response.content_type = "text/html; charset=utf-8"
    else:
        body = {"probe_error": {"status": error.code, "message": error.description}}
        response.set_data(json.dumps(body))
        response.content_type = "application/json"
    return response


def create_probe_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """The probe app; in-process tests pass Flask settings, as your create_app takes them."""
    app = Flask(__name__)
    serving.init_app(app)
    # The key the start command validated, read the way your config.py reads it.
    secret_key = serving.Env(os.environ).secret("SECRET_KEY", required=False)
    app.config.update(SERVICE_NAME="probe", SECRET_KEY=secret_key)
    if overrides:
        app.config.update(overrides)
    app.register_error_handler(HTTPException, probe_error)
    app.register_blueprint(checks)
    app.register_blueprint(probe)
    return app


app = create_probe_app()
