"""The WSGI apps the benchmark serves. Never deployed (.dockerignore leaves bench/ out).

- `service`: the production app, everything on, plus `/io`, which waits 50 ms the
  way a call to a database or another service would, and `/ping`, /health's answer
  on a route of the app's own: the serving machinery traces it, where it never
  traces /health (bench/cost.py loads it).
- `bare_flask`: a hello-world Flask app, the one most deployment guides start from.
- `bare_wsgi`: a bare WSGI callable, the most any Python server code can do here.
"""

import time

from flask import Flask, jsonify

from {{ cookiecutter.package_name }}.app import create_app

# A typical downstream call: long enough to dwarf the CPU cost of a request.
IO_WAIT_SECONDS = 0.05


def _io():
    # time.sleep stands for a blocking socket read: the gevent worker patches it
    # into a cooperative wait, as it patches sockets.
    time.sleep(IO_WAIT_SECONDS)
    return jsonify(waited_ms=int(IO_WAIT_SECONDS * 1000))


def _ping():
    return jsonify(status="ok")


service = create_app()
service.add_url_rule("/io", "io", _io)
service.add_url_rule("/ping", "ping", _ping)

bare_flask = Flask(__name__)
bare_flask.add_url_rule("/io", "io", _io)


@bare_flask.get("/health")
def _bare_health():
    return jsonify(status="ok")


_BODY = b'{"status":"ok"}'
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))]


def bare_wsgi(environ, start_response):
    start_response("200 OK", _HEADERS)
    return [_BODY]
