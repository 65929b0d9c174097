"""The one start command, `python -m {{ cookiecutter.package_name }}`, and its two siblings.

    python -m {{ cookiecutter.package_name }} [GUNICORN FLAGS] [APP]   serve (the Dockerfile, Procfile, every manifest)
    python -m {{ cookiecutter.package_name }} release                  the release step, once per deploy
    python -m {{ cookiecutter.package_name }} manage COMMAND [ARGS]    any Flask CLI command of the app

All three first validate the whole environment, the server's settings and your
config.py, and stop with one line naming the variable (exit code 2) before
anything binds or touches data. gunicorn 27 runs int(WEB_CONCURRENCY) when its
config module loads, so a bad value would otherwise end in a traceback.

All three set the umask to 002: files and folders the service creates are
group-writable, so any UID in group 0 (the arbitrary UIDs of OpenShift, a later
release running as another user) can update what an earlier one wrote.

Serving runs gunicorn in this process (PID 1 in the container, so it receives
SIGTERM directly) with gunicorn_config.py; extra arguments go to gunicorn.
"""

from __future__ import annotations

import os
import sys

from .settings import load_settings, or_exit

CONFIG = "python:{{ cookiecutter.package_name }}.serving.gunicorn_config"
# Group-writable files: see above.
UMASK = 0o002


def validate_environment() -> None:
    """Exit with one line if any setting, the server's or the app's, is bad."""
    from {{ cookiecutter.package_name }}.config import load_config

    or_exit(load_settings, os.environ)
    or_exit(load_config, os.environ)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    validate_environment()
    os.umask(UMASK)
    if args[:1] == ["release"]:
        manage(["release", *args[1:]])
    elif args[:1] == ["manage"]:
        manage(args[1:])
    else:
        serve(args)


def serve(args: list[str]) -> None:
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--config", CONFIG, *args]
    run()


def manage(args: list[str]) -> None:
    """The app's Flask CLI (`flask --app {{ cookiecutter.package_name }}`), as the image runs it."""
    from flask.cli import FlaskGroup

    from {{ cookiecutter.package_name }} import create_app

    cli = FlaskGroup(create_app=lambda: create_app(), load_dotenv=False)
    cli.main(args=args, prog_name="python -m {{ cookiecutter.package_name }} manage")
