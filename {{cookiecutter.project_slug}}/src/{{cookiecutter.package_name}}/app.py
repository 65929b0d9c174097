"""The application factory: register your blueprints, commands and extensions here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import cli, errors, health, serving
from .config import load_config


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` replaces Flask settings, as tests do."""
    config = load_config(os.environ)

    app = Flask(__name__)
    # The template's part: logging, the data folder (app.instance_path), request ids,
    # security headers, session cookies. serving/flask_app.py says what it sets.
    serving.init_app(app)
    app.config.update(
        SERVICE_NAME="{{ cookiecutter.project_slug }}",
        SECRET_KEY=config.secret_key,
    )
    if overrides:
        app.config.update(overrides)

    errors.register(app)
    cli.register(app)
    app.register_blueprint(health.bp)
{%- if cookiecutter.database == "postgresql" %}
    # /ready answers 503 naming "database" while it cannot be reached (SELECT 1).
    health.add_readiness_check(app, "database", serving.database_is_reachable)
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" %}
    # The example background job's views (jobs.py); the job runs in the worker.
    from . import jobs

    app.register_blueprint(jobs.bp)
{%- endif %}
{%- if cookiecutter.websockets == "yes" %}
    # The example WebSocket route (ws.py); the machinery bounds and closes sockets.
    from . import ws

    app.register_blueprint(ws.bp)
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
    # The example Socket.IO events (rooms.py); the machinery binds the server: the
    # websocket transport, Redis across workers, Origin, the bound, 1001 on a stop.
    from . import rooms

    serving.init_socketio(app, rooms.socketio)
{%- endif %}
    # Your blueprints, e.g.: from . import pages; app.register_blueprint(pages.bp)
    return app
