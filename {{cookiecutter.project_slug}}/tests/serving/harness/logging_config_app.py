"""The ops probe app, made by a factory that configures logging first, as apps brought
over from elsewhere do: `logging.config.dictConfig()` with its defaults, which disable
every logger that exists when it runs. Never deployed.

Gunicorn loads it as `harness.logging_config_app:app`; its routes are ops_app.py's.
"""

import logging.config

from .ops_app import create_ops_app

# Names one logger of its own and leaves disable_existing_loggers at its default, True:
# the service's loggers, made before the app loads, are disabled by it.
LOGGING = {"version": 1, "loggers": {"probe.legacy": {"level": "INFO"}}}


def create_app():
    logging.config.dictConfig(LOGGING)
    return create_ops_app()


app = create_app()
