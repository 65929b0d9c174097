"""The one start command, `python -m {{ cookiecutter.package_name }}`, and its two siblings.

    python -m {{ cookiecutter.package_name }} [GUNICORN FLAGS] [APP]   serve (the Dockerfile, Procfile, every manifest)
    python -m {{ cookiecutter.package_name }} release                  the release step, once per deploy
    python -m {{ cookiecutter.package_name }} manage COMMAND [ARGS]    any Flask CLI command of the app
{%- if cookiecutter.background_jobs == "rq" %}
    python -m {{ cookiecutter.package_name }} worker                   the background jobs' worker (job_worker.py)
{%- endif %}

All three first validate the whole environment, the server's settings and your
config.py, and stop with one line naming the variable (exit code 2) before
anything binds or touches data. gunicorn 27 runs int(WEB_CONCURRENCY) when its
config module loads, so a bad value would otherwise end in a traceback.

All three set the umask to 002: files and folders the service creates are
group-writable, so any UID in group 0 (the arbitrary UIDs of OpenShift, a later
release running as another user) can update what an earlier one wrote.

Serving runs gunicorn in this process with gunicorn_config.py (its values) and
server_hooks.py (what happens at boot, fork and stop); extra arguments go to
gunicorn. In the image dumb-init is PID 1 and hands SIGTERM and SIGINT to this
process (the Dockerfile says why).

Signals before gunicorn's own handlers. As it is imported, the first thing
`python -m {{ cookiecutter.package_name }}` does (the packages above it import nothing slow), this module
makes SIGTERM and SIGINT stop the service with exit code 0, quietly: nothing is
bound and no worker forked until gunicorn replaces these handlers. Without them a
stop in the first few hundred milliseconds (imports, validation, the config)
killed the process, or, as PID 1, was dropped by the kernel and ended in SIGKILL,
and a Ctrl-C printed a KeyboardInterrupt traceback. `release` and `manage` keep
Python's own handling: a release cut short must not look successful.
{%- if cookiecutter.background_jobs == "rq" %} The worker
keeps these handlers until RQ installs its own (job_worker.py says what they do).
{%- endif %}

An app that cannot load (its import fails, create_app raises, it calls sys.exit)
is one JSON ERROR line naming the app and the exception, traceback inside, and
exit code 4, gunicorn's "App failed to load": the master then stops instead of
forking replacements that fail the same way. With GUNICORN_PRELOAD the master
loads it and stops the same way. An app that loads but whose logging configuration
disabled the service's loggers gets them back, with one WARNING (disabled_loggers.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

CONFIG = "python:{{ cookiecutter.package_name }}.serving.gunicorn_config"
# Group-writable files: see above.
UMASK = 0o002
# gunicorn's Arbiter.APP_LOAD_ERROR: a worker exiting with it halts the master.
APP_LOAD_ERROR = 4
# SIGTERM's handler last: a process that catches SIGTERM (SigCgt in /proc/PID/status,
# which the signal tests wait for) already has this one for SIGINT too. SIGINT shows
# as caught from the interpreter's start (its KeyboardInterrupt handler).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_now(signum: int | None = None, frame: object = None) -> None:
    """Exit with code 0 at once: a signal handler's stop while nothing serves yet.

    os._exit, not SystemExit: raised from a handler, SystemExit can land in a weakref
    callback or a __del__ (import machinery has both), where Python prints "Exception
    ignored" and carries on booting. The master removes the metrics' folder it made,
    which gunicorn's on_exit hook does on every later stop; a worker leaves it.
    """
    # Only once imported may it have made one; a signal can land in that import, where
    # the module is not whole yet. Nothing here may keep the process from exiting.
    files = sys.modules.get(f"{__package__}.metrics_files")
    with contextlib.suppress(Exception):
        getattr(files, "remove_made_directory", lambda: None)()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a write it interrupted: exiting anyway
            stream.flush()
    os._exit(0)


def _command(args: list[str]) -> str:
    return args[0] if args[:1] in (["release"], ["manage"]{% if cookiecutter.background_jobs == "rq" %}, ["worker"]{% endif %}) else "serve"


if _command(sys.argv[1:]) not in ("release", "manage"):
    for _signum in _STOP_SIGNALS:
        signal.signal(_signum, exit_now)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if _command(args) in ("release", "manage"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Read and validated here, once for this boot: gunicorn_config.py, the logger and
    # the workers reuse what this read (settings.boot_settings says how).
    from .settings import boot_settings

    settings = boot_settings()
    os.umask(UMASK)
    if args[:1] == ["release"]:
        manage(["release", *args[1:]])
    elif args[:1] == ["manage"]:
        manage(args[1:])
{%- if cookiecutter.background_jobs == "rq" %}
    elif args[:1] == ["worker"]:
        from .job_worker import run

        run(args[1:])
{%- endif %}
    else:
        if settings.metrics.enabled:
            # Before gunicorn, the app or anything else imports prometheus_client,
            # which reads PROMETHEUS_MULTIPROC_DIR once, on import (metrics_files.py).
            from .metrics_files import prepare_or_exit

            prepare_or_exit("{{ cookiecutter.package_name }}")
        serve(args)


def serve(args: list[str]) -> None:
    from gunicorn.app.wsgiapp import WSGIApplication

    class Service(WSGIApplication):
        def load(self):
            # In each worker, or in the master with GUNICORN_PRELOAD (its workers
            # inherit what it loaded), once per load.
            return loaded(load_app_or_exit(super().load, self.app_uri), self.app_uri)

    sys.argv = ["gunicorn", "--config", CONFIG, *args]
    Service("%(prog)s [OPTIONS] [APP_MODULE]").run()


def load_app_or_exit(load, app_uri: str):
    """`load()`, or one ERROR line and exit code 4 if the app cannot load."""
    try:
        return load()
    except BaseException as error:  # SystemExit too: a worker exiting 0 or 1 is forked again
        # (A stop signal never raises here: until a worker boots, it exits at once.)
        import logging  # not at the top: the stop handlers there come before any slow import

        logging.getLogger("gunicorn.error").error(
            "the app %s failed to load: %s: %s",
            app_uri,
            type(error).__name__,
            error,
            exc_info=True,
            extra={"app": app_uri, "error": type(error).__name__},
        )
        raise SystemExit(APP_LOAD_ERROR) from None


def loaded(app, name: str):
    """`app`, the app `name` just made, with the service's loggers its logging
    configuration disabled enabled again (disabled_loggers.py)."""
    from .disabled_loggers import enable_service_loggers

    enable_service_loggers(name)
    return app


def manage(args: list[str]) -> None:
    """The app's Flask CLI (`flask --app {{ cookiecutter.package_name }}`), as the image runs it."""
    from flask.cli import FlaskGroup

    from {{ cookiecutter.package_name }} import create_app

    from .disabled_loggers import factory_name

    name = factory_name(create_app)
    cli = FlaskGroup(create_app=lambda: loaded(create_app(), name), load_dotenv=False)
    cli.main(args=args, prog_name="python -m {{ cookiecutter.package_name }} manage")
