"""The service's loggers that the app's logging configuration disabled, enabled again.

`logging.config.dictConfig()` and `fileConfig()` disable every logger that exists when
they run and that their configuration does not name, unless it says
`disable_existing_loggers: False`. An app that calls one in its factory, as many apps
brought over from elsewhere do, silently turned off the service's own lines: the
slow-request and worker-memory WARNINGs, gunicorn's error log (a worker timeout, a
failed request) and its access log, with nothing to say why.

Wherever the machinery loads the app (start.py: each gunicorn worker, or the master
with GUNICORN_PRELOAD, and `manage`;{% if cookiecutter.background_jobs == "rq" %} job_worker.py;{% endif %} measure_memory.py), it calls
enable_service_loggers() once the app is made: the service's loggers found disabled
are enabled again, and one WARNING names them and what to set. Once per load, never
per request. The app's own loggers stay as its configuration left them: its choice.

A configuration with a root section (or any fileConfig()) also replaces the service's
one handler on the root logger (logging_setup.py): every line is then written as that
configuration says, not as the one JSON line a platform's log search reads. That is
said in a WARNING too, not undone: the app chose its handlers, and two would write
every line twice.
"""

from __future__ import annotations

import logging

from .logging_setup import service_handler_in_place

log = logging.getLogger(__name__)

# The machinery's loggers and the names under them: serving/'s and gunicorn's (its
# error and access logs){% if cookiecutter.background_jobs == "rq" %}, and RQ's (the job worker's){% endif %}.
SERVICE_LOGGERS = (__package__, "gunicorn"{% if cookiecutter.background_jobs == "rq" %}, "rq"{% endif %})
# How many of their names the message shows: enough to tell whose they are, in a line
# that stays readable; the `disabled_loggers` field has them all.
_NAMED = 3


def factory_name(create_app) -> str:
    """How the lines name an app made by calling `create_app`."""
    return f"{create_app.__module__}.{create_app.__qualname__}()"


def enable_service_loggers(app: str, *, also: tuple[str, ...] = ()) -> list[str]:
    """Enable the service's loggers (SERVICE_LOGGERS, and `also`) that loading `app`
    disabled, with one WARNING saying so. Their names, sorted; none: no line."""
    prefixes = (*SERVICE_LOGGERS, *also)
    # A copy: another thread may add a logger meanwhile.
    loggers = list(logging.Logger.manager.loggerDict.items())
    disabled = sorted(
        name
        for name, logger in loggers
        # The others are placeholders, parents of loggers made before them.
        if isinstance(logger, logging.Logger)
        and logger.disabled
        and any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)
    )
    for name in disabled:
        logging.getLogger(name).disabled = False
    if disabled:
        more = len(disabled) - _NAMED
        log.warning(
            "the app %s disabled %d of the service's loggers as it loaded (%s%s); they "
            "are enabled again, the service's own lines must not vanish unseen. "
            "logging.config.dictConfig() and fileConfig() disable every logger that "
            "exists unless told disable_existing_loggers: False: set that in the app's "
            "logging configuration (docs/serving.md, Logs)",
            app,
            len(disabled),
            ", ".join(disabled[:_NAMED]),
            f" and {more} more" if more > 0 else "",
            extra={"app": app, "disabled_loggers": disabled},
        )
    if not service_handler_in_place():
        log.warning(
            "the app %s replaced the service's log handler on the root logger as it "
            "loaded: every line, the access log's too, is now written as its logging "
            "configuration says, not as the service's one line per entry on stdout. "
            "Leave the root logger out of the app's configuration (docs/serving.md, Logs)",
            app,
            extra={"app": app},
        )
    return disabled
