"""gunicorn's server hooks: what happens at boot, at each fork and when a worker stops.

gunicorn_config.py holds the values and binds these functions under gunicorn's own
hook names (gunicorn reads hooks only from its config module). In the order gunicorn
calls them:

- nworkers_changed: refuse a configuration that cannot serve (refusals.py);
- on_starting: no stop signal lost at a fork; one halt when workers fail to boot; a
  reload that stops the old workers once the new ones serve (reloads.py);
- when_ready: the boot line, the effective configuration as one JSON entry;
- post_fork: a worker told to stop before it has booted exits at once;
- post_worker_init: /ready answers 503 as soon as the worker is told to stop; the
  worker's start is counted (metrics.py); its memory is read against
  WORKER_MEMORY_MB (worker_memory.py); its OpenTelemetry provider and exporter are
  made, after fork (tracing.py); a WARNING for each scheduler the app started in the
  worker (in_process_schedulers.py);
- post_request: the worker's memory again, now and then (worker_memory.py);
- worker_exit: in the worker, after its last request: its last spans exported,
  within a bound (tracing.py);
- child_exit: in the master, why the worker exited: counted, an ERROR line for a
  SIGKILL, its metrics' files folded into the archive (worker_exits.py,
  metrics_files.py);
- on_exit: the metrics' temporary folder removed.
{%- if cookiecutter.database == "postgresql" %}
  The first worker also states the database pool against the server's limit, once,
  when it first uses the database (its first /ready probe, say).
{%- endif %}

They read the settings this boot validated (settings.boot_settings), never the
environment again.
Hooks: https://gunicorn.org/reference/settings/#server-hooks
"""

from __future__ import annotations

import os
import queue
import signal
import sys

from gunicorn.errors import HaltServer

from . import reloads, worker_memory
from .refusals import CONFIG_FILE, source, unservable
from .settings import boot_settings
from .start import exit_now
from .worker_exits import child_exit as _child_exit
from .worker_exits import watch as _watch_exits
from .worker_sizing import {% if cookiecutter.websockets == "socketio" %}socketio_worker_count, {% endif %}worker_count

# The signals that stop a worker: TERM from the master (graceful), QUIT from the
# master after its own SIGINT (quick), INT from a terminal's Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT)


def nworkers_changed(server, new_value, old_value):
    """Refuse, with one line and exit code 2, a configuration that cannot serve.

    gunicorn calls this hook first with the effective configuration (the config file,
    GUNICORN_CMD_ARGS and the command line applied), before it logs, binds or forks;
    old_value is None only then.
    """
    if old_value is None:
        problem = unservable(server.cfg, server.worker_class)
        if problem:
            print(f"configuration error: {problem}", file=sys.stderr)
            raise SystemExit(2)


def on_starting(server):
    """Set up the master: no stop signal lost at a fork, one halt when workers fail to
    boot, old workers stopped on a reload only once the new ones serve."""
    keep_stop_signals_across_forks()
    _halt_once(server)
    _watch_exits(server)
    reloads.on_starting(server)


def keep_stop_signals_across_forks():
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
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS))

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
    """Log the effective configuration as one JSON entry, once, when the master is up.

    With a socket per worker the master binds none, and gunicorn's own "Listening at:"
    line has no address (logging_setup.GunicornLogger drops it): this one names them.
    """
    cfg = server.cfg
    settings = boot_settings()
    listening = _listening(server)
    if not server.LISTENERS:
        server.log.info("Listening at: %s (one socket per worker)", ",".join(listening))
    workers_source = source(cfg, "workers")
    if workers_source == CONFIG_FILE:  # from the environment: say which limit decided
        counted = worker_count(settings)
{%- if cookiecutter.websockets == "socketio" %}
        counted = socketio_worker_count(settings, counted)
{%- endif %}
        workers_source = counted.source
    server.log.info(
        "gunicorn configuration",
        extra={
            "config": {
                "bind": cfg.bind,
                "listening": listening,
                "workers": cfg.workers,
                "workers_source": workers_source,
                "worker_class": settings.worker_class
                if source(cfg, "worker_class") == CONFIG_FILE
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
                # The service's own limits, beside gunicorn's: a wrong TRUSTED_HOSTS
                # passes every probe (they are exempt), so the boot line shows it.
                "trusted_hosts": list(settings.trusted_hosts) or None,
                "url_prefix": settings.url_prefix,
                "max_content_length": settings.max_content_length,
                "loglevel": cfg.loglevel,
            }
        },
    )
{%- if cookiecutter.websockets == "socketio" %}
    if settings.socketio_message_queue is None:
        # Nothing can count the instances: the line says what one worker cannot do.
        server.log.warning(
            "REDIS_URL is not set: Socket.IO's rooms and broadcasts reach only the "
            "clients of one worker, so the service runs %d; set REDIS_URL before "
            "running more workers or instances",
            cfg.workers,
            extra={"socketio_message_queue": None},
        )
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    if settings.database.driver == "psycopg2" and settings.worker_class == "gevent":
        # psycopg2 waits for the server inside libpq, where gevent cannot switch: one
        # query waiting on a lock froze the whole worker (/health: 5 s, not 2 ms).
        server.log.warning(
            "DATABASE_URL uses psycopg2, which blocks the whole gevent worker while a "
            "query waits: use postgresql:// (psycopg 3) with GUNICORN_WORKER_CLASS=gevent",
            extra={"driver": "psycopg2", "worker_class": "gevent"},
        )
{%- endif %}


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
    for signum in STOP_SIGNALS:
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
            stop = signals.get_nowait() in STOP_SIGNALS or stop
    except queue.Empty:
        pass
    return stop


def post_worker_init(worker):
    """Make /ready answer 503 as soon as this worker is told to stop; warn of a
    scheduler the app started here; count the start, read the memory and start
    tracing (the app is loaded by now)."""
    from .in_process_schedulers import warn_of_in_process_schedulers
    from .lifecycle import start_draining

    warn_of_in_process_schedulers(worker.log, worker.cfg.workers)

    stop = signal.getsignal(signal.SIGTERM)

    def drain_then_stop(signum, frame):
        start_draining()
        stop(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_stop)
    settings = boot_settings()
    if settings.metrics.enabled:
        from .metrics import worker_started

        worker_started(settings.revision, settings.worker_memory_mb * 2**20)
    worker_memory.at_boot(settings.worker_memory_mb, settings.metrics.enabled)
    if settings.tracing.enabled:
        # Here, not at import: after fork (an exporter's connections and locks must be
        # this worker's own) and after gevent patched threads and sockets.
        from .tracing import start_worker_tracing

        start_worker_tracing(settings)
{%- if cookiecutter.database == "postgresql" %}
    if worker.age == 1:
        # The first worker gunicorn forked states the pool once per boot.
        from .database import state_pool_on_first_use

        state_pool_on_first_use(worker.cfg.workers)
{%- endif %}


def post_request(worker, req, environ, resp):
    """After each request, in the worker: its memory, read now and then (worker_memory.py)."""
    settings = boot_settings()
    worker_memory.after_request(settings.worker_memory_mb, settings.metrics.enabled)


def worker_exit(server, worker):
    """In the worker, once it has stopped serving: export its last spans (tracing.py)."""
    if boot_settings().tracing.enabled:
        from .tracing import stop_worker_tracing

        stop_worker_tracing(worker.cfg.graceful_timeout)


def child_exit(server, worker):
    """In the master, once a worker is reaped: why it exited (worker_exits.py)."""
    _child_exit(server, worker, boot_settings().metrics.enabled)


def on_exit(server):
    """The master's last step: remove the metrics' temporary folder, if it made one."""
    from .metrics_files import remove_made_directory

    remove_made_directory(in_master=True)
