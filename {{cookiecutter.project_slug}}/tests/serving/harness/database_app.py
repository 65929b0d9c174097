"""The database tests' own app: the serving machinery's database around probe endpoints.

Built like probe_app.py (serving.init_app, never your create_app), with /ready
consulting only the machinery's database check, and its own error shape: the 503s
the tests see come from serving/database.py, whatever your errors.py does.
"""

import logging
import os

from flask import Flask, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from {{ cookiecutter.package_name }} import serving

log = logging.getLogger("probe")


def create_database_app() -> Flask:
    app = Flask(__name__)
    app.config["SERVICE_NAME"] = "database-probe"
    serving.init_app(app)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(probe_error=error.description), error.code

    @app.get("/health")
    def health():
        return jsonify(status="ok", pid=os.getpid())

    @app.get("/ready")
    def ready():
        if not serving.database_is_reachable():
            return jsonify(status="unavailable", failing="database"), 503
        return jsonify(status="ready")

    @app.get("/_probe/db/sleep")
    def sleep():
        """SELECT pg_sleep(seconds): a request that waits on the database, not on Python."""
        seconds = min(float(request.args.get("seconds", "0.1")), 10.0)
        serving.db_session().execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return jsonify(slept=seconds)

    @app.get("/_probe/db/backend")
    def backend():
        """The server process behind this request's connection, and the pool's size."""
        pid = serving.db_session().execute(text("SELECT pg_backend_pid()")).scalar()
        return jsonify(backend=pid, pool=serving.database_engine().pool.size())

    return app


app = create_database_app()
