"""Gunicorn's configuration: its values, each from the environment with its reason.

`python -m {{ cookiecutter.package_name }}` (start.py) runs gunicorn with
`--config python:{{ cookiecutter.package_name }}.serving.gunicorn_config`, this module; the project's
gunicorn.conf.py imports it, so a plain `gunicorn` there runs it too. Every value comes
from settings.py, whose environment is read and validated once per boot
(settings.boot_settings): by start.py before gunicorn runs, or by this module under a
plain `gunicorn`. Either way a bad value stops the master with one line before it binds.

What happens at boot, at each fork and at a stop (refusing a configuration that cannot
serve, signals around forks, the boot line) is behaviour, not values: it lives in
server_hooks.py, bound here under gunicorn's hook names at the end of this file.

Precedence (gunicorn's own): this file < GUNICORN_CMD_ARGS < command-line flags.
Settings: https://gunicorn.org/reference/settings/
"""

import os

from {{ cookiecutter.package_name }}.serving import server_hooks
from {{ cookiecutter.package_name }}.serving.metrics_files import prepare_or_exit
from {{ cookiecutter.package_name }}.serving.settings import boot_settings
from {{ cookiecutter.package_name }}.serving.worker_listeners import wanted
from {{ cookiecutter.package_name }}.serving.worker_sizing import {% if cookiecutter.websockets == "socketio" %}socketio_worker_count, {% endif %}worker_count

_settings = boot_settings()
if _settings.metrics.enabled:
    # Done already by the start command; here for a plain `gunicorn` (metrics_files.py).
    prepare_or_exit("{{ cookiecutter.package_name }}")

_workers = worker_count(_settings)
{%- if cookiecutter.websockets == "socketio" %}
_workers = socketio_worker_count(_settings, _workers)
{%- endif %}

# The app, so that the start command needs no argument (`python -m {{ cookiecutter.package_name }}`).
wsgi_app = "{{ cookiecutter.package_name }}.serving.wsgi:app"
proc_name = "{{ cookiecutter.project_slug }}"

# PORT is what Cloud Run, Railway and Heroku inject. The default host is [::] where
# the kernel has IPv6 (Railway's private network is IPv6-only; a dual-stack socket
# still takes IPv4), and 0.0.0.0 where IPv6 is disabled.
bind = list(_settings.bind)
# METRICS_PORT: a second socket on the same host, which every worker serves too and
# which answers /metrics alone (metrics.py). Never published by a deploy file.
if _settings.metrics.address is not None:
    bind.append(_settings.metrics.address)

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
# Indexed, not looked up with a fallback: settings.py admits only these three, and a
# class without the error-pages mixin must not slip in unnoticed.
worker_class = _WORKER_CLASSES[_settings.worker_class]
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


# The server hooks, under the names gunicorn looks for (it reads hooks only from its
# config module). What each does, and why, is in server_hooks.py.
nworkers_changed = server_hooks.nworkers_changed
on_starting = server_hooks.on_starting
when_ready = server_hooks.when_ready
post_fork = server_hooks.post_fork
post_worker_init = server_hooks.post_worker_init
post_request = server_hooks.post_request
worker_exit = server_hooks.worker_exit
child_exit = server_hooks.child_exit
on_exit = server_hooks.on_exit
