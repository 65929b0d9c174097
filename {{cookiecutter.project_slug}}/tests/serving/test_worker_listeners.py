"""When each worker gets a listening socket of its own (worker_listeners.py)."""

import sys
from pathlib import Path

import pytest
from harness.http import wait_for, wait_for_health

from {{ cookiecutter.package_name }}.serving.worker_listeners import wanted

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balances on Linux")


@linux_only
@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_on_for_classes_that_keep_connections(worker_class):
    assert wanted(True, worker_class, max_requests=0)


def test_off_for_sync_workers():
    # A request hashed to a busy sync worker would wait while others idle.
    assert not wanted(True, "sync", max_requests=0)


def test_off_when_workers_are_recycled():
    # A retiring worker would reset the connections waiting in its own queue.
    assert not wanted(True, "gthread", max_requests=1000)


def test_off_when_turned_off():
    assert not wanted(False, "gthread", max_requests=0)


def listening_sockets(port: int) -> int:
    wanted_address = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1:4:2] == [wanted_address, "0A"])


@linux_only
@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_each_worker_listens_and_the_master_does_not(start_gunicorn, worker_class):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})  # 2 workers
    wait_for_health(server.url)
    wait_for(lambda: listening_sockets(server.port) == 2, 15, "one listener per worker")
    (boot,) = [line for line in server.json_lines() if line["message"] == "gunicorn configuration"]
    assert boot["config"]["listeners"] == "one per worker"


def test_sync_workers_share_the_master_listener(start_gunicorn):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": "sync"})
    wait_for_health(server.url)
    assert listening_sockets(server.port) == 1
