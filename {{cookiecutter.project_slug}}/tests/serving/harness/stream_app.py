"""The probe app plus streamed responses, under /_probe/stream/. Never deployed.

Gunicorn loads it as `harness.stream_app:app`. Each generator logs from inside the
iteration, so a test can see which context its lines carry.
"""

import logging
import time

from flask import Blueprint, Response, request, stream_with_context

from {{ cookiecutter.package_name }}.serving.streaming import sleep_unless_draining

from .probe_app import app

log = logging.getLogger("probe.stream")
# Logged by /_probe/stream/events as it starts, so a test knows without sleeping.
EVENTS_STARTED = "event stream started"
# The longest any stream here runs: nothing a test forgets outlives it for long.
LONGEST = 30.0

stream = Blueprint("_probe_stream", __name__, url_prefix="/_probe/stream")


@stream.get("/chunks")
def chunks():
    """`count` chunks, a log line before each, and one when the body is closed."""
    count = min(int(request.args.get("count", "3")), 100)

    def generate():
        try:
            for number in range(count):
                log.info("chunk %d", number)
                yield f"chunk {number}\n"
        finally:
            log.info("chunks closed")

    return Response(generate(), mimetype="text/plain")


@stream.get("/with-context")
def with_context():
    """Flask's own helper: the generator reads the request while it is iterated."""

    @stream_with_context
    def generate():
        yield "path "
        log.info("streaming %s", request.path)
        yield request.path

    return Response(generate(), mimetype="text/plain")


@stream.get("/fail")
def fail():
    """Raises after `after` chunks: 0 is before the response has started."""
    after = int(request.args.get("after", "0"))

    def generate():
        for number in range(after):
            yield f"chunk {number}\n"
        raise RuntimeError(f"stream failed after {after} chunks")

    return Response(generate(), mimetype="text/plain", headers={"X-Stream": "started"})


@stream.get("/events")
def events():
    """Server-sent events until the worker drains (or, with naive=1, for LONGEST s)."""
    naive = request.args.get("naive") == "1"
    heartbeat = float(request.args.get("heartbeat", "0.5"))

    def generate():
        log.info(EVENTS_STARTED)
        yield "retry: 1000\n\n"
        yield "data: first\n\n"
        deadline = time.monotonic() + LONGEST
        while time.monotonic() < deadline:
            if naive:
                time.sleep(heartbeat)  # what a stream unaware of shutdowns does
            elif not sleep_unless_draining(heartbeat):
                yield "event: bye\ndata: draining\n\n"
                return
            yield ": heartbeat\n\n"

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-store"})


app.register_blueprint(stream)
