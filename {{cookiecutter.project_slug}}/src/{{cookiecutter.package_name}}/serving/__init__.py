"""The serving machinery, maintained by the template: leave these files as they are.

Settings and their validation, worker sizing and classes, logging, request ids,
security headers, session cookies, the data location, the start command, the
healthcheck probe and gunicorn's configuration. Template updates change this folder;
your application lives one folder up. `init_app(app)` is all your factory calls;
`Env` (settings.py) reads your config.py's variables, and streaming views may use
`streaming.sleep_unless_draining()`.
"""

from .flask_app import init_app

__all__ = ["init_app"]
