"""Gunicorn configuration, driven by the environment.

`python -m {{ cookiecutter.package_name }}` (start.py) validates the environment, then runs gunicorn
with `--config python:{{ cookiecutter.package_name }}.serving.gunicorn_config`, this module. Every
value comes from settings.py; this module validates again (the server's settings and
your config.py), so a plain `gunicorn --config python:...` also stops on a bad value
before binding.

Precedence (gunicorn's own): this file < GUNICORN_CMD_ARGS < command-line flags.
A combination that cannot serve (no worker, no address, TLS on the gthread class, a
certificate file that is not there) stops the master with one line before it binds.
Settings: https://gunicorn.org/reference/settings/
"""

import argparse
import contextlib
import os
import queue
import signal
import sys

from gunicorn.errors import HaltServer

from {{ cookiecutter.package_name }}.serving.settings import load_settings_or_exit
from {{ cookiecutter.package_name }}.serving.start import exit_now, validate_environment
from {{ cookiecutter.package_name }}.serving.worker_listeners import wanted
from {{ cookiecutter.package_name }}.serving.worker_sizing import worker_count

validate_environment()
_settings = load_settings_or_exit(os.environ)

_workers = worker_count(_settings)

# The app, so that the start command needs no argument (`python -m {{ cookiecutter.package_name }}`).
wsgi_app = "{{ cookiecutter.package_name }}.serving.wsgi:app"
proc_name = "{{ cookiecutter.project_slug }}"

# PORT is what Cloud Run, Railway and Heroku inject. The default host is [::] where
# the kernel has IPv6 (Railway's private network is IPv6-only; a dual-stack socket
# still takes IPv4), and 0.0.0.0 where IPv6 is disabled.
bind = list(_settings.bind)

# One listening socket per gthread or gevent worker: with reuse_port, gunicorn binds
# each worker its own SO_REUSEPORT socket and the kernel spreads kept-alive
# connections evenly, instead of the first worker awake taking most of them.
# worker_listeners.py has the measurements, the trade-off and when it stays off.
reuse_port = wanted(_settings.reuse_port, _settings.worker_class, _settings.max_requests)

# 2 x CPU + 1, where CPU is the container's quota, not the host's core count
# (worker_sizing.py). WEB_CONCURRENCY fixes the count: Heroku's name for it.
workers = _workers.workers
# gunicorn's own workers, each with its error pages carrying the security headers and
# a request id (error_pages.py); gthread also reads headers without tying up a thread
# (gthread_worker.py), gevent stops promptly on kept-alive connections (gevent_worker.py).
_WORKER_CLASSES = {
    "sync": "{{ cookiecutter.package_name }}.serving.sync_worker.ErrorPagesSyncWorker",
    "gthread": "{{ cookiecutter.package_name }}.serving.gthread_worker.HeaderBufferingThreadWorker",
    "gevent": "{{ cookiecutter.package_name }}.serving.gevent_worker.DrainingGeventWorker",
}
worker_class = _WORKER_CLASSES.get(_settings.worker_class, _settings.worker_class)
# Threads per gthread worker; sync workers must keep 1 (settings.py explains why).
threads = _settings.threads
# Concurrent connections per gevent or gthread worker.
worker_connections = _settings.worker_connections

# A sync worker silent this long is killed and replaced; for gthread and gevent it
# is only a heartbeat, since their requests do not block the arbiter's view.
timeout = _settings.timeout
# On SIGTERM, in-flight requests get this long to finish. 8 s stays under the 10 s
# that Cloud Run and `docker stop` wait before SIGKILL (Heroku waits 30 s).
graceful_timeout = _settings.graceful_timeout
# Idle keep-alive connections stay open 95 s, longer than the routers in front
# (Heroku's Router 2.0 closes them at 90 s), so the router always closes first and
# never sends a request on a connection gunicorn is closing.
# https://devcenter.heroku.com/articles/http-routing#keepalives
keepalive = _settings.keepalive
# Recycle a worker after this many requests (0 = never), to contain slow leaks;
# the jitter keeps all workers from restarting at once.
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
# Off by default: each worker imports the app itself, which gevent requires.
preload_app = _settings.preload

# Gunicorn 25+ opens a control socket under $HOME by default, which fails in
# read-only and non-root containers. Off unless GUNICORN_CONTROL_SOCKET names a path.
control_socket_disable = _settings.control_socket is None
if _settings.control_socket is not None:
    control_socket = _settings.control_socket

# Worker heartbeat files go to memory: on a container's overlay filesystem, writes
# can stall and get healthy workers killed. Only where /dev/shm exists (not macOS).
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 (gunicorn's private heartbeat files, no data)
worker_tmp_dir = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None

# Every log line, access entries included, goes to stdout through one formatter
# (JSON by default; LOG_FORMAT=text for local work). See logging_setup.py.
# The access line costs more per request than anything else the service adds
# (README, Performance). Cloud Run, Heroku and Railway log every request at their
# router already: `accesslog = None` drops ours where theirs is enough.
logger_class = "{{ cookiecutter.package_name }}.serving.logging_setup.GunicornLogger"
loglevel = _settings.log_level
accesslog = "-"
errorlog = "-"

# X-Forwarded-Proto is trusted only from FORWARDED_ALLOW_IPS (default 127.0.0.1,::1,
# validated by settings.py); the deploy files set it for their platform.
forwarded_allow_ips = ",".join(_settings.forwarded_allow_ips)
# X-Forwarded-Proto is the one scheme header every platform's router sets (and
# overwrites). gunicorn's default also trusts X-Forwarded-Ssl and X-Forwarded-Protocol,
# which no router here sets: a client's own would pass through the router unchanged.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# No header changes routing: gunicorn's default takes SCRIPT_NAME and PATH_INFO from
# any trusted peer, and with FORWARDED_ALLOW_IPS=* from any client that reaches the
# port (a 500, another path served, or an off-site url_for). A service mounted under
# a prefix sets URL_PREFIX (serving/url_prefix.py).
forwarder_headers = ""


def nworkers_changed(server, new_value, old_value):
    """Refuse, with one line and exit code 2, a configuration that cannot serve.

    gunicorn calls this hook first with the effective configuration (this file,
    GUNICORN_CMD_ARGS and the command line applied), before it logs, binds or forks;
    old_value is None only then.
    """
    if old_value is None:
        problem = _unservable(server.cfg)
        if problem:
            print(f"configuration error: {problem}", file=sys.stderr)
            raise SystemExit(2)


def _unservable(cfg) -> str | None:
    """What makes this configuration unable to serve, or None."""
    if cfg.workers < 1:
        # With no worker nothing accepts: the master would run, answering nothing.
        return (
            f"workers={cfg.workers} (set by {_source(cfg, 'workers')}) is not allowed: "
            "expected 1 or more"
        )
    if not cfg.address:
        return f"bind is empty (set by {_source(cfg, 'bind')}): nothing would listen"
    if cfg.is_ssl and cfg.worker_class_str == _WORKER_CLASSES["gthread"]:
        tls = "certfile" if cfg.certfile else "keyfile"
        return (
            f"{tls} (set by {_source(cfg, tls)}) is not allowed with "
            "GUNICORN_WORKER_CLASS=gthread: its header buffering (gthread_worker.py) reads "
            "plain HTTP only. Terminate TLS in front of the service, as the platforms do, "
            "or use GUNICORN_WORKER_CLASS=sync or gevent"
        )
    for name in ("certfile", "keyfile"):
        path = getattr(cfg, name)
        if path and not os.path.isfile(path):
            return f"{name}={path!r} (set by {_source(cfg, name)}) is not a file"
    return None


def _source(cfg, name: str) -> str:
    """Where gunicorn took a setting from: its command line, GUNICORN_CMD_ARGS, or this file.

    gunicorn applies this file, then GUNICORN_CMD_ARGS, then the command line, each
    parsed with the same parser, whose options default to None when absent.
    """
    parser = cfg.parser()
    # gunicorn parsed both already; here an error only means they are not its flags.
    parser.exit_on_error = False
    for source, args in (
        ("command line", sys.argv[1:]),
        ("GUNICORN_CMD_ARGS", cfg.get_cmd_args_from_env()),
    ):
        with contextlib.suppress(argparse.ArgumentError):
            if getattr(parser.parse_known_args(args)[0], name, None) is not None:
                return source
    return "gunicorn_config.py"


def _listening(server) -> list[str]:
    """The addresses served: the master's sockets, or with reuse_port, what each worker binds."""
    if server.LISTENERS:
        return [str(listener) for listener in server.LISTENERS]
    scheme = "https" if server.cfg.is_ssl else "http"
    addresses = []
    for address in server.cfg.address:
        if isinstance(address, tuple):
            host, port = address
            host = f"[{host}]" if ":" in host else host
            addresses.append(f"{scheme}://{host}:{port}")
        else:  # a Unix socket path, or an inherited descriptor (fd://N)
            addresses.append(f"fd://{address}" if isinstance(address, int) else f"unix:{address}")
    return addresses


def on_starting(server):
    """Set up the master: no stop signal lost at a fork, one halt when workers fail to boot."""
    _keep_stop_signals_across_forks()
    _halt_once(server)


def _keep_stop_signals_across_forks():
    """Block the stop signals while the master forks, so a worker cannot miss one.

    CPython clears the signals a child received before its own after-fork code ran
    (bpo-9535: so that one signal is not handled twice). The master sends its
    SIGTERM as soon as a stop comes, and a worker forked in that instant lost it,
    served on, and held the stop for the whole graceful timeout (once in ~300
    stops; a bare fork-then-kill loses 294 of 300 on 2 cores). Blocked, a signal
    stays pending in the kernel across the fork, and arrives once the mask is
    restored: in the master, or in the worker as a queued signal that post_fork
    finds. Only the master's forks are touched: a fork in the app is unchanged.
    """
    master, masks = os.getpid(), []

    def block():
        if os.getpid() == master:
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS))

    def restore():
        if masks:  # the mask from before the fork, in the master and its new child
            signal.pthread_sigmask(signal.SIG_SETMASK, masks.pop())

    os.register_at_fork(before=block, after_in_parent=restore, after_in_child=restore)


def _halt_once(server):
    """Halt once when workers fail to boot.

    A worker that cannot boot or load the app exits with 3 or 4, and gunicorn halts:
    it stops the other workers and reaps them. When another one fails too (they all
    load the same app), or one fails while the master stops anyway, gunicorn raises
    HaltServer inside its own stop, and the master dies with a traceback of two
    dozen lines instead of its exit status. The first reason is the reason; later
    failures are reaped as workers that exited.
    """
    reap, stop = server.reap_workers, server.stop
    stopping = []

    def reap_workers():
        while True:
            try:
                return reap()
            except HaltServer:
                if not stopping:
                    stopping.append(True)
                    raise

    def stop_noted(graceful=True):
        stopping.append(True)
        stop(graceful)

    server.reap_workers, server.stop = reap_workers, stop_noted


def when_ready(server):
    """Log the effective configuration as one JSON line, once, when the master is up."""
    cfg = server.cfg
    listening = _listening(server)
    if not server.LISTENERS:
        # gunicorn's own "Listening at:" line is empty when each worker binds its own.
        server.log.info("Listening at: %s (one socket per worker)", ",".join(listening))
    workers_source = _source(cfg, "workers")
    server.log.info(
        "gunicorn configuration",
        extra={
            "config": {
                "bind": cfg.bind,
                "listening": listening,
                "workers": cfg.workers,
                "workers_source": _workers.source
                if workers_source == "gunicorn_config.py"
                else workers_source,
                "worker_class": _settings.worker_class
                if cfg.worker_class_str == worker_class
                else cfg.worker_class_str,
                "threads": cfg.threads,
                "worker_connections": cfg.worker_connections,
                "timeout": cfg.timeout,
                "graceful_timeout": cfg.graceful_timeout,
                "keepalive": cfg.keepalive,
                "max_requests": cfg.max_requests,
                "max_requests_jitter": cfg.max_requests_jitter,
                "preload_app": cfg.preload_app,
                "listeners": "one per worker" if cfg.reuse_port else "shared",
                "worker_tmp_dir": cfg.worker_tmp_dir,
                "control_socket": None if cfg.control_socket_disable else cfg.control_socket,
                "forwarded_allow_ips": cfg.forwarded_allow_ips,
                "loglevel": cfg.loglevel,
            }
        },
    )


# The signals that stop a worker: TERM from the master (graceful), QUIT from the
# master after its own SIGINT (quick), INT from a terminal's Ctrl-C.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT)


def post_fork(server, worker):
    """Exit at once a worker told to stop before it has booted.

    A forked worker starts with the master's handlers, which only queue the signal
    in the worker's copy of the master's queue, where nothing reads it: a SIGTERM
    in the worker's first milliseconds (gunicorn logs "Booting worker" and binds the
    worker's sockets before this hook) was lost, and the worker served on and held
    the shutdown for GUNICORN_GRACEFUL_TIMEOUT (measured: `docker stop` 8.2-8.5 s,
    not 1 s, when it came just after a worker was forked). From here on such a
    signal exits at once; one that came earlier is found in that queue. gunicorn's
    own handlers replace these once the worker sets up.
    """
    for signum in _STOP_SIGNALS:
        signal.signal(signum, exit_now)
    if _stop_signal_queued(server):
        exit_now()

    # gunicorn installs these methods as the worker's handlers (init_signals). Until
    # the worker has booted (loading the app can take seconds) there is nothing to
    # finish: it exits at once.
    handle_exit, handle_quit = worker.handle_exit, worker.handle_quit
    quitting = []

    def exit_or_stop(signum, frame):
        if not worker.booted:
            exit_now()
        handle_exit(signum, frame)

    def quit_once(signum, frame):
        # Ctrl-C reaches the worker as INT and, through the master, as QUIT. The second
        # one exits at once, without a second SystemExit (a "SystemExit: 0" traceback
        # under gevent): the first one's can be swallowed by a finalizer it interrupted,
        # which left a gthread worker serving on until the master's SIGKILL (8 s).
        if not worker.booted or quitting:
            exit_now()
        quitting.append(signum)
        handle_quit(signum, frame)

    worker.handle_exit, worker.handle_quit = exit_or_stop, quit_once


def _stop_signal_queued(server) -> bool:
    """Whether a stop signal reached this worker while it had the master's handler.

    gunicorn 27's arbiter queues signals in `SIG_QUEUE`; the worker never reads
    its copy, so emptying it here takes nothing from the master.
    """
    signals = getattr(server, "SIG_QUEUE", None)
    stop = False
    try:
        while signals is not None:
            stop = signals.get_nowait() in _STOP_SIGNALS or stop
    except queue.Empty:
        pass
    return stop


def post_worker_init(worker):
    """Make /ready answer 503 as soon as this worker is told to stop."""
    from {{ cookiecutter.package_name }}.serving.lifecycle import start_draining

    stop = signal.getsignal(signal.SIGTERM)

    def drain_then_stop(signum, frame):
        start_draining()
        stop(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_stop)
