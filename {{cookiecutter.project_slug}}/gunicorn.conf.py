"""gunicorn's own configuration file, which `gunicorn` run in this folder reads by default.

The service starts with `python -m {{ cookiecutter.package_name }}` (Makefile, Dockerfile, Procfile, every
manifest), which names its configuration itself. This file is for gunicorn typed by
hand here, `gunicorn` or `gunicorn --config gunicorn.conf.py`: without it gunicorn
would serve its defaults (127.0.0.1:8000, one sync worker) and validate nothing. With
it, gunicorn reads and validates the same environment, refuses the same bad values
with the same one line, and runs the same hooks.

Every value lives in src/{{ cookiecutter.package_name }}/serving/gunicorn_config.py, each with its reason,
and is set through the environment (README): this file only brings them in. The app
is named there too (`wsgi_app`), so no APP argument is needed; one given replaces it.
There is no wsgi.py here, so `wsgi:app` stops at once with "No module named 'wsgi'":
the app has one name, `{{ cookiecutter.package_name }}.serving.wsgi:app`, the one every start command
and the image use.

Three things differ from the start command, `python -m {{ cookiecutter.package_name }}`: a
WEB_CONCURRENCY that is not a whole number stops gunicorn with its own traceback (its
import runs int() on it before any config file is read), an app that fails to load is
reported in gunicorn's lines, not in the start command's one line, and the service's
loggers that the app's logging configuration disabled stay off (the start command
loads the app in serving/start.py; serving/disabled_loggers.py).

Not in the image (.dockerignore): its one start command does not read this file.
"""

# gunicorn takes the names it knows (settings and hooks) and ignores the rest.
from {{ cookiecutter.package_name }}.serving.gunicorn_config import *  # noqa: F403
