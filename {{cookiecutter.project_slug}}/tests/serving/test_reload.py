"""`kill -HUP` (systemctl reload) under steady load loses nothing, on every worker class.

Each test holds 20 kept-alive clients and 4 clients opening a connection per request
against a real master, reloads it RELOADS times, and counts what every request saw
(harness/reload_clients.py). A reload is over when the master's children are all new,
have all logged their boot, and the old ones are gone. Asserted: on a reused
kept-alive connection a request sees at most a close before any byte of a response,
which HTTP clients retry, never a reset, a timeout or a cut response; on a new
connection none fails but for the one race NEW_RESETS_ALLOWED describes.

What a reload picks up (docs/serving.md, Reloads): the app's code, which each new
worker imports afresh; not the configuration module, which the master imported once
and gunicorn's reload takes from its module cache.
"""

import os
import signal
import socket
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from harness import reliability
from harness.http import wait_for, wait_for_health
from harness.processes import worker_pids
from harness.reload_clients import RETRIED_BY_CLIENTS, ReloadClients
from harness.servers import PROJECT

RELOADS = 3
KEPT_CLIENTS = 20
FRESH_CLIENTS = 4
# Each request sleeps this long in the app, so that every reload finds some in flight.
PATH = "/_probe/slow?seconds=0.02"
# Requests served between reloads, so each reload starts under load through new workers.
REQUESTS_BETWEEN = 60
# A new connection whose handshake completes in the microseconds between a stopping
# worker's last accept and the close of its own listening socket (gthread, gevent) is
# reset by the kernel: seen once in about 30 gevent reloads. Linux 5.14+ hands such
# connections to a sibling socket instead with net.ipv4.tcp_migrate_req=1, and then
# none may fail (docs/serving.md, Reloads).
_MIGRATE = Path("/proc/sys/net/ipv4/tcp_migrate_req")
NEW_RESETS_ALLOWED = 0 if _MIGRATE.exists() and _MIGRATE.read_text().strip() == "1" else 1


def _reload(server) -> None:
    old = worker_pids(server.process.pid)
    os.kill(server.process.pid, signal.SIGHUP)

    def replaced():
        pids = worker_pids(server.process.pid)
        lines = server.lines()
        booted = all(
            any(f"Booting worker with pid: {pid}" in line for line in lines) for pid in pids
        )
        return len(pids) == server.workers and pids.isdisjoint(old) and booted

    wait_for(replaced, 30, "new workers booted and the old ones gone")


def _serve_some(clients: ReloadClients) -> None:
    served = clients.total()
    wait_for(lambda: clients.total() >= served + REQUESTS_BETWEEN, 30, "load served")


# Slow: every class in one bake's run (about 8 s each); the other bakes skip it.
@pytest.mark.slow
@pytest.mark.parametrize("worker_class", ["sync", "gthread", "gevent"])
def test_reload_under_load_loses_nothing(start_gunicorn, worker_class):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    wait_for_health(server.url)
    server.wait_for_workers()
    with ReloadClients(server.port, PATH, KEPT_CLIENTS, FRESH_CLIENTS, seconds=120) as clients:
        for _ in range(RELOADS):
            _serve_some(clients)
            _reload(server)
        _serve_some(clients)
    reused, new = dict(clients.reused), dict(clients.new)
    failed = clients.total() - reused.get("ok", 0) - new.get("ok", 0)
    reliability.record(
        scenario=f"{RELOADS} x kill -HUP",
        worker_class=worker_class,
        load=f"{KEPT_CLIENTS} kept-alive + {FRESH_CLIENTS} new-connection clients",
        fault="reload",
        requests=clients.total(),
        failed=failed,
        outcome=f"on reused connections {reused}, on new ones {new}",
    )
    print(f"{worker_class}: on reused connections {reused}, on new ones {new}")
    for when, connection, outcome in clients.failures:
        print(f"  {datetime.fromtimestamp(when, UTC).isoformat()} {connection}: {outcome}")
    assert set(reused) <= {"ok", RETRIED_BY_CLIENTS}, reused
    new_failed = sum(new.values()) - new.get("ok", 0)
    assert set(new) <= {"ok", "reset"}, new
    assert new_failed <= NEW_RESETS_ALLOWED, new


APP_MODULE = """
    VERSION = {version!r}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [VERSION.encode()]
"""
CONFIG_MODULE = """
    from {{ cookiecutter.package_name }}.serving.gunicorn_config import *  # noqa: F403

    workers = {workers}
"""


def test_a_reload_serves_edited_code_but_keeps_the_configuration(start_gunicorn, tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    app, config = modules / "reload_probe.py", modules / "reload_probe_config.py"
    app.write_text(textwrap.dedent(APP_MODULE.format(version="before")))
    config.write_text(textwrap.dedent(CONFIG_MODULE.format(workers=2)))
    server = start_gunicorn(
        {
            "PYTHONPATH": os.pathsep.join([str(modules), str(PROJECT / "src")]),
            "PYTHONDONTWRITEBYTECODE": "1",  # no stale .pyc from an edit in the same second
        },
        command=[
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}",
            "--config",
            "python:reload_probe_config",
            "reload_probe:app",
        ],
    )
    wait_for(lambda: _text(server.url) == "before", 15, "the app serving")
    server.wait_for_workers()

    app.write_text(textwrap.dedent(APP_MODULE.format(version="after")))
    config.write_text(textwrap.dedent(CONFIG_MODULE.format(workers=3)))
    _reload(server)  # waits for server.workers (2) new workers: 3 would time out

    assert {_text(server.url) for _ in range(10)} == {"after"}
    assert len(worker_pids(server.process.pid)) == 2


def _text(url: str) -> str | None:
    try:
        return requests.get(f"{url}/", timeout=5).text
    except requests.ConnectionError:
        return None


def test_a_reload_speaks_systemds_notify_protocol(start_gunicorn):
    """RELOADING=1 with MONOTONIC_USEC as it starts, READY=1 once the new workers serve:
    what systemd expects of a reload (sd_notify(3)); deploy/systemd's unit relies on it."""
    # Short: a socket's path has at most 108 bytes.
    with (
        tempfile.TemporaryDirectory(prefix="notify-") as folder,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd,
    ):
        path = os.path.join(folder, "notify")
        systemd.bind(path)
        systemd.settimeout(30)
        server = start_gunicorn({"NOTIFY_SOCKET": path})
        assert systemd.recv(4096).decode().startswith("READY=1")
        old = server.wait_for_workers()
        signalled = time.monotonic_ns() // 1000
        os.kill(server.process.pid, signal.SIGHUP)
        reloading = dict(line.split("=", 1) for line in systemd.recv(4096).decode().split())
        assert reloading["RELOADING"] == "1"
        assert signalled <= int(reloading["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
        assert systemd.recv(4096).decode() == "READY=1"
        new = worker_pids(server.process.pid) - old
        assert len(new) == server.workers  # forked, and reported in (serving/reloads.py)
