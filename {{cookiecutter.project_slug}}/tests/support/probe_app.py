"""The production app plus endpoints that only tests use. Never deployed.

Tests run it in place of `{{ cookiecutter.package_name }}.wsgi:app` (and mount it into
containers), so the production app carries no slow or introspection endpoints.
"""

import logging
import sys
import time

from flask import jsonify, request

from {{ cookiecutter.package_name }}.app import create_app

app = create_app()
log = logging.getLogger("probe")
# Logged when /slow or /spin starts, so a test knows without sleeping.
SLOW_STARTED = "slow request started"
SPIN_STARTED = "spin request started"


@app.get("/slow")
def slow():
    seconds = min(float(request.args.get("seconds", "2")), 20.0)
    log.info(SLOW_STARTED)
    time.sleep(seconds)
    return jsonify(slept=seconds)


@app.get("/url")
def url():
    """The request's external URL, to check the scheme gunicorn derived from proxies."""
    return jsonify(url=request.url, scheme=request.scheme)


@app.get("/patched")
def patched():
    """Whether gevent patched the standard library in this worker."""
    monkey = sys.modules.get("gevent.monkey")
    return jsonify(socket=bool(monkey and monkey.is_module_patched("socket")))


@app.get("/spin")
def spin():
    """Busy CPU without yielding: hangs a sync worker, and a gevent worker's whole hub."""
    deadline = time.monotonic() + min(float(request.args.get("seconds", "2")), 20.0)
    log.info(SPIN_STARTED)
    while time.monotonic() < deadline:
        pass
    return jsonify(spun=True)


@app.post("/echo")
def echo():
    """Reads the whole body, so body framing and size limits are exercised."""
    return jsonify(size=len(request.get_data()))
