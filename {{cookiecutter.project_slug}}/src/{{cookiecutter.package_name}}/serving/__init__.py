"""The serving machinery, maintained by the template: leave these files as they are.

Settings and their validation, worker sizing and classes, logging, request ids,
security headers, session cookies, the data location, the start command, the
healthcheck probe, gunicorn's configuration and its server hooks, the metrics and
each worker's memory. Template updates
change this folder; your application lives one folder up and uses only the names
below:

- `init_app(app)`: what your factory calls (flask_app.py);
- `Env`, `SettingsError`: the validated reader your config.py uses (settings.py);
- `is_draining()`: True once this worker is shutting down (lifecycle.py);
- `check_readiness(checks)`: /ready's body and status, each check run with a time
  limit (readiness.py); `service_status(service, version)`: /status's body (status.py);
- `sleep_unless_draining(seconds)`: the wait for streaming views (streaming.py);
- `shared_file(path)`: a file in DATA_DIR that every UID in group 0 can write, made
  before SQLite's first connection to it (data_files.py, docs/state.md).
{%- if cookiecutter.database == "postgresql" %}
- `db_session()`: the database session of this request or command, closed when it
  ends; `database_is_reachable()`: /ready's database check; `database_engine()` and
  `engine_options()`: this worker's engine and its settings (database.py,
  docs/database.md); `release_database()`: the release step's wait and migrations
  (migrations.py).
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
- `init_socketio(app, socketio)`: binds your SocketIO object to the app, with the
  transport, message queue, Origin check and close on a stop (socketio.py,
  docs/websockets.md).
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" %}
- `enqueue(function, *args, **kwargs)`: run a job in the worker process, and
  `fetch_job(job_id)`: that job, or None once expired (jobs.py, docs/background-jobs.md).
{%- endif %}

`Env`, `SettingsError`, `is_draining` and `shared_file` import only the standard library: gunicorn's
master imports your config.py, before the gevent worker patches the standard
library, so nothing heavier may load with them. The others load on first use.
"""

from .data_files import shared_file
from .lifecycle import is_draining
from .settings import Env, SettingsError

__all__ = [
    "Env",
    "SettingsError",
    "check_readiness",
{%- if cookiecutter.database == "postgresql" %}
    "database_engine",
    "database_is_reachable",
    "db_session",
    "engine_options",
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" %}
    "enqueue",
    "fetch_job",
{%- endif %}
    "init_app",
{%- if cookiecutter.websockets == "socketio" %}
    "init_socketio",
{%- endif %}
    "is_draining",
{%- if cookiecutter.database == "postgresql" %}
    "release_database",
{%- endif %}
    "service_status",
    "shared_file",
    "sleep_unless_draining",
]


def __getattr__(name: str):
    if name == "init_app":
        from .flask_app import init_app

        return init_app
    if name == "sleep_unless_draining":
        from .streaming import sleep_unless_draining

        return sleep_unless_draining
    if name == "check_readiness":
        from .readiness import check_readiness

        return check_readiness
    if name == "service_status":
        from .status import service_status

        return service_status
{%- if cookiecutter.database == "postgresql" %}
    if name in ("database_engine", "database_is_reachable", "db_session", "engine_options"):
        from . import database

        return getattr(database, name)
    if name == "release_database":
        from .migrations import release

        return release
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" %}
    if name in ("enqueue", "fetch_job"):
        from . import jobs

        return jobs.enqueue if name == "enqueue" else jobs.fetch
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
    if name == "init_socketio":
        from .settings import current_settings
        from .socketio import init_socketio

        return lambda app, socketio: init_socketio(app, socketio, current_settings())
{%- endif %}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
