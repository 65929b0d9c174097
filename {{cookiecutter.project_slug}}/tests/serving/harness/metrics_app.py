"""The metrics and memory tests' app: the machinery around routes that name their worker.

Built with `serving.init_app` as your create_app builds yours. PROBE_HOLD_MIB makes
each worker hold that much memory from its start (every page written, so resident),
as a large app's imports and caches would.
"""

import os
import time

from flask import Flask, jsonify, request

from {{ cookiecutter.package_name }} import serving

# Written byte by byte (a bytes repetition), so the kernel really gives every page.
_held = b"\x01" * (int(os.environ.get("PROBE_HOLD_MIB", "0")) * 1024 * 1024)


def create_metrics_probe_app() -> Flask:
    app = Flask(__name__)
    serving.init_app(app)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/items/<int:item>")
    def item(item: int):
        """Names the worker that answered, so a test can see every worker served;
        `?hold=SECONDS` (at most 1) keeps the worker busy that long first."""
        time.sleep(min(float(request.args.get("hold", "0")), 1.0))
        return jsonify(item=item, pid=os.getpid())

    @app.get("/stream")
    def stream():
        return app.response_class((f"{n}\n" for n in range(3)), mimetype="text/plain")

    return app


app = create_metrics_probe_app()
