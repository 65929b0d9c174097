"""The database tests' own app: the serving machinery's database around probe endpoints.

Built like probe_app.py (serving.init_app, never your create_app), with /ready
running only the machinery's database check (through serving.check_readiness, as
your health.py runs its checks), and its own error shape: the 503s the tests see
come from serving/database.py, whatever your errors.py does.
"""

import logging
import os

from flask import Flask, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from {{ cookiecutter.package_name }} import serving

log = logging.getLogger("probe")
# The probe's own table, never one of your models: the container test writes and reads it.
NOTES_TABLE = "CREATE TABLE IF NOT EXISTS probe_notes (id serial PRIMARY KEY, body text NOT NULL)"


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
        # As your health.py runs it: in a thread of its own, within READY_CHECK_TIMEOUT.
        return serving.check_readiness([("database", serving.database_is_reachable)])

    @app.get("/_probe/db/sleep")
    def sleep():
        """SELECT pg_sleep(seconds): a request that waits on the database, not on Python."""
        seconds = min(float(request.args.get("seconds", "0.1")), 10.0)
        serving.db_session().execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return jsonify(slept=seconds)

    @app.get("/_probe/db/cancelled")
    def cancelled():
        """A statement the server cancels (statement_timeout): the request's own failure."""
        session = serving.db_session()
        session.execute(text("SET LOCAL statement_timeout = 50"))
        session.execute(text("SELECT pg_sleep(5)"))
        return jsonify(slept=5)

    @app.get("/_probe/db/backend")
    def backend():
        """The server process behind this request's connection, and the pool's size."""
        pid = serving.db_session().execute(text("SELECT pg_backend_pid()")).scalar()
        return jsonify(backend=pid, pool=serving.database_engine().pool.size())

    @app.post("/_probe/db/notes")
    def write_note():
        """Insert the body as a row of the probe's own table (made on first use); its id."""
        session = serving.db_session()
        session.execute(text(NOTES_TABLE))
        note = session.execute(
            text("INSERT INTO probe_notes (body) VALUES (:body) RETURNING id"),
            {"body": request.get_data(as_text=True)},
        ).scalar()
        session.commit()
        return jsonify(id=note), 201

    @app.get("/_probe/db/notes/<int:note>")
    def read_note(note):
        """The row written above, read back by another request."""
        query = text("SELECT body FROM probe_notes WHERE id = :id")
        body = serving.db_session().execute(query, {"id": note}).scalar()
        if body is None:
            return jsonify(probe_error="no such note"), 404
        return jsonify(id=note, body=body)

    return app


app = create_database_app()
