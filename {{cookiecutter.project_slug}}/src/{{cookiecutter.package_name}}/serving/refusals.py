"""A configuration that cannot serve, refused with one line before anything binds.

The server's variables are validated by settings.py before gunicorn runs; this checks
what gunicorn made of them with GUNICORN_CMD_ARGS and command-line flags applied
(server_hooks.nworkers_changed calls it), and names where each setting came from.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

# What source() calls the values of gunicorn_config.py (read from the environment).
CONFIG_FILE = "gunicorn_config.py"


def unservable(cfg, worker_class: type) -> str | None:
    """What makes this configuration unable to serve, or None.

    `worker_class` is the class gunicorn loaded from `cfg` (Arbiter.worker_class).
    """
    if cfg.workers < 1:
        # With no worker nothing accepts: the master would run, answering nothing.
        return (
            f"workers={cfg.workers} (set by {source(cfg, 'workers')}) is not allowed: "
            "expected 1 or more"
        )
    if not cfg.address:
        return f"bind is empty (set by {source(cfg, 'bind')}): nothing would listen"
    if cfg.is_ssl and _reads_plain_http_only(worker_class):
        tls = "certfile" if cfg.certfile else "keyfile"
        return (
            f"{tls} (set by {source(cfg, tls)}) is not allowed with "
            "GUNICORN_WORKER_CLASS=gthread: its header buffering (gthread_worker.py) reads "
            "plain HTTP only. Terminate TLS in front of the service, as the platforms do, "
            "or use GUNICORN_WORKER_CLASS=sync or gevent"
        )
    for name in ("certfile", "keyfile"):
        path = getattr(cfg, name)
        if path and not os.path.isfile(path):
            return f"{name}={path!r} (set by {source(cfg, name)}) is not a file"
    return None


def _reads_plain_http_only(worker_class: type) -> bool:
    # Imported only with TLS on: the master loads no worker module it does not run.
    from .gthread_worker import HeaderBufferingThreadWorker

    return isinstance(worker_class, type) and issubclass(worker_class, HeaderBufferingThreadWorker)


def source(cfg, name: str) -> str:
    """Where gunicorn took a setting from: its command line, GUNICORN_CMD_ARGS, or
    gunicorn_config.py.

    gunicorn applies its config file, then GUNICORN_CMD_ARGS, then the command line,
    each parsed with the same parser, whose options default to None when absent.
    """
    parser = cfg.parser()
    # gunicorn parsed both already; here an error only means they are not its flags.
    parser.exit_on_error = False
    for where, args in (
        ("command line", sys.argv[1:]),
        ("GUNICORN_CMD_ARGS", cfg.get_cmd_args_from_env()),
    ):
        with contextlib.suppress(argparse.ArgumentError):
            if getattr(parser.parse_known_args(args)[0], name, None) is not None:
                return where
    return CONFIG_FILE
