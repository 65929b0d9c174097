"""Your app plus endpoints that only the serving tests use. Never deployed.

Tests run it in place of `{{ cookiecutter.package_name }}.serving.wsgi:app` (and mount it
into containers), so the production app carries no slow or introspection endpoints.
Every probe route lives under /_probe/ and every endpoint name under `_probe.`, so
nothing here can collide with a route or endpoint of your app.
"""

import logging
import sys
import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, request, url_for

from {{ cookiecutter.package_name }} import create_app

log = logging.getLogger("probe")
# Logged when /_probe/slow or /_probe/spin starts, so a test knows without sleeping.
SLOW_STARTED = "slow request started"
SPIN_STARTED = "spin request started"

probe = Blueprint("_probe", __name__, url_prefix="/_probe")


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


app = create_app()
app.register_blueprint(probe)
