"""A configuration that cannot serve, refused with one line before anything binds.

The server's variables are validated by settings.py before gunicorn runs; this checks
what gunicorn made of them with GUNICORN_CMD_ARGS and command-line flags applied
(server_hooks.nworkers_changed calls it), and names where each setting came from.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
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
    taken = _address_in_use(cfg.address)
    if taken:
        # With SO_REUSEPORT (worker_listeners.py) a second server on the same port
        # would bind beside the first, silently, and take half its connections.
        return (
            f"{taken} (set by {source(cfg, 'bind')}) is already in use: another server "
            "listens there (a second `make run`?). Stop it, or choose another PORT"
        )
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


def _address_in_use(addresses) -> str | None:
    """The first TCP address another socket listens on, or None.

    A plain bind (SO_REUSEADDR, so connections in TIME_WAIT from a previous run do
    not count) fails only where a socket listens. Sockets handed down to this master
    (gunicorn's USR2 re-exec, systemd's socket activation) are its own.
    """
    if os.environ.get("GUNICORN_FD") or os.environ.get("LISTEN_FDS"):
        return None
    for address in addresses:
        if not isinstance(address, tuple):  # a unix socket's path, or a file descriptor
            continue
        host, port = address[:2]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return f"{host}:{port}" if family == socket.AF_INET else f"[{host}]:{port}"
                # Anything else (an address this host lacks) is gunicorn's to report.
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
