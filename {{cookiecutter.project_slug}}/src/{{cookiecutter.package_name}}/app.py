"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import health
from .errors import register_error_handlers
from .logging_setup import configure_logging
from .request_context import RequestContextMiddleware
from .security_headers import SecurityHeadersMiddleware
from .settings import load_settings

SERVICE_NAME = "{{ cookiecutter.project_slug }}"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides Flask settings, as tests do."""
    settings = load_settings(os.environ)
    configure_logging(settings.log_level, settings.log_format)

    app = Flask(__name__)
    app.config.update(
        SERVICE_NAME=SERVICE_NAME,
        # Larger bodies get a JSON 413 before the view reads them.
        MAX_CONTENT_LENGTH=settings.max_content_length,
        GOOGLE_CLOUD_PROJECT=settings.google_cloud_project,
    )
    if config:
        app.config.update(config)

    app.wsgi_app = SecurityHeadersMiddleware(
        RequestContextMiddleware(app.wsgi_app, app.config["GOOGLE_CLOUD_PROJECT"])
    )
    register_error_handlers(app)
    app.register_blueprint(health.bp)
    return app
