"""The tracing tests' app: the serving machinery around a route with a rule, a log line
and a hold, beside the paths that are never traced. Never deployed.

Built with `serving.init_app` as your create_app builds yours.
"""

import logging
import sys
import time

from flask import Flask, jsonify, request

from {{ cookiecutter.package_name }} import serving

log = logging.getLogger("tracing_probe")
# Logged inside each /items request: its JSON line carries the request's span ids.
ITEM_STARTED = "item request started"
# Logged while /stream's body is sent, after the view has returned.
STREAMED = "streamed a chunk"
# The span /items/N?own=1 makes with the API, as your code would.
OWN_SPAN = "load item"


def create_tracing_probe_app() -> Flask:
    app = Flask(__name__)
    serving.init_app(app)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/ready")
    def ready():
        return jsonify(status="ready")

    @app.get("/status")
    def status():
        return serving.service_status("tracing-probe", "0")

    @app.get("/items/<int:item>")
    def item(item: int):
        """`?hold=SECONDS` (at most 5) keeps the worker busy that long: requests in
        flight when a test sends SIGTERM."""
        log.info(ITEM_STARTED, extra={"item": item})
        if request.args.get("own"):
            # What your code does with the API: an attribute on the request's span, and
            # a span of its own under it. Imported here: off, nothing may load it.
            from opentelemetry import trace

            trace.get_current_span().set_attribute("item.own", True)
            with trace.get_tracer("tracing_probe").start_as_current_span(OWN_SPAN) as own:
                own.set_attribute("item", item)
        hold = min(float(request.args.get("hold", "0")), 5.0)
        if hold:
            time.sleep(hold)
        return jsonify(item=item)

    @app.get("/stream")
    def stream():
        def chunks():
            for number in range(2):
                log.info(STREAMED)
                yield f"{number}\n"

        return app.response_class(chunks(), mimetype="text/plain")

    @app.get("/loaded")
    def loaded():
        """The OpenTelemetry modules this worker has imported."""
        return jsonify(sorted(name for name in sys.modules if name.startswith("opentelemetry")))

    return app


app = create_tracing_probe_app()
