"""Your application's configuration: every value it reads from the environment.

Read with the same validated reader as the server's settings (serving/settings.py),
and loaded by the start command before anything binds: a missing or bad value stops
the service with one line naming the variable, not a 500 later. To add a value: a
field on Config, one line in load_config(), a row in the README's table, and its
value in each deploy file that needs it. Secrets go through env.secret(), which
also reads NAME_FILE (a file mounted by Docker or Kubernetes secrets) and never
prints the value.

gunicorn's master imports this module to validate it before anything binds, before
the gevent worker patches the standard library: import only the standard library and
`.serving` here, never your database driver or HTTP client (create those in the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .serving import Env

# Set to True once the app uses flask.session (a login, flash messages): SECRET_KEY
# then becomes required at start, so the app never runs with a missing or guessable
# key. While False the app runs without one, and Flask refuses to set a session.
USES_SESSIONS = False
# The shortest SECRET_KEY accepted: `secrets.token_urlsafe(32)` gives 43 characters.
SECRET_KEY_MIN_LENGTH = 32


@dataclass(frozen=True)
class Config:
    # Signs session cookies; None while USES_SESSIONS is False and none is set.
    secret_key: str | None


def load_config(environ: Mapping[str, str]) -> Config:
    """Parse and validate the app's variables. Raises SettingsError on the first bad one."""
    env = Env(environ)
    return Config(
        secret_key=env.secret(
            "SECRET_KEY", required=USES_SESSIONS, min_length=SECRET_KEY_MIN_LENGTH
        ),
    )
