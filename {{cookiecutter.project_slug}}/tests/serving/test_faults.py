"""Faults under load, against real gunicorn masters on 127.0.0.1.

Each test is bounded in requests and seconds, stops its load by itself, and records
its figures in the reliability table printed at the end of the run.
"""

import contextlib
import os
import signal
import socket
import threading
import time
from collections import Counter

import pytest
import requests
from harness import reliability
from harness.http import BackgroundRequest, wait_for, wait_for_health
from harness.load import Load
from harness.probe_app import SLOW_STARTED, SPIN_STARTED
from harness.processes import accept_queue_length, peers_of, worker_pids

from {{ cookiecutter.package_name }}.serving.worker_listeners import wanted as own_listeners_wanted

pytestmark = pytest.mark.slow


def slots(worker_class: str, workers: int) -> int:
    return workers * (4 if worker_class == "gthread" else 1)


@pytest.mark.parametrize(
    ("worker_class", "in_flight"), [("gthread", 16), ("gevent", 40)], ids=["gthread", "gevent"]
)
def test_deploy_under_load_loses_nothing(start_gunicorn, worker_class, in_flight):
    # gthread: 2 workers x 4 threads = 8 slots, 16 requests; gevent has no small
    # slot count (1000 connections a worker), so 40 requests stand in for it.
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    wait_for_health(server.url)
    router = requests.Session()  # a platform router's kept-alive connection
    assert router.get(f"{server.url}/ready", timeout=5).status_code == 200

    earlier = peers_of(server.port)
    clients = [BackgroundRequest(f"{server.url}/_probe/slow?seconds=1.5") for _ in range(in_flight)]
    started = min(in_flight, slots(worker_class, 2) if worker_class != "gevent" else in_flight)
    wait_for(
        lambda: sum(SLOW_STARTED in line for line in server.lines()) >= started,
        15,
        f"{started} requests in the app",
    )
    # Every other request is connected and accepted by a worker too: none is still in
    # a client thread (it would find the listeners closed) or in a kernel queue.
    wait_for(
        lambda: len(peers_of(server.port) - earlier) >= in_flight,
        15,
        f"{in_flight} connections",
    )
    wait_for(lambda: accept_queue_length(server.port) == 0, 5, "empty accept queues")

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    ready_during_drain = []
    if worker_class == "gthread":
        # gthread answers requests on kept-alive connections while it drains.
        def drained() -> bool:
            try:
                ready_during_drain.append(router.get(f"{server.url}/ready", timeout=5).status_code)
            except requests.RequestException:
                return True  # connection closed: the router must go elsewhere
            return ready_during_drain[-1] == 503

        wait_for(drained, 5, "/ready to answer 503 once draining")
        assert 503 in ready_during_drain
    exit_code = server.process.wait(timeout=20)
    took = time.monotonic() - signalled
    statuses = [client.outcome() for client in clients]
    router.close()

    lost = sum(status != 200 for status in statuses)
    reliability.record(
        scenario="deploy under load (SIGTERM)",
        worker_class=worker_class,
        load=f"{in_flight} requests in flight",
        fault="SIGTERM to the master",
        requests=in_flight,
        failed=lost,
        outcome=f"exit {exit_code} after {took:.1f}s",
    )
    assert lost == 0, Counter(map(str, statuses))
    assert exit_code == 0
    assert took < 8, f"took {took:.1f}s, over the graceful timeout"


@pytest.mark.parametrize("worker_class", ["gthread", "gevent", "sync"])
def test_killed_worker_is_replaced_under_load(start_gunicorn, worker_class):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    wait_for_health(server.url)
    server.wait_for_workers()
    clients = 4
    with Load(server.url, "/health", clients=clients, max_requests=3000, seconds=6) as load:
        wait_for(lambda: load.total > 50, 5, "load to start")
        before = worker_pids(server.process.pid)
        victim = min(before)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replacement = wait_for(
            lambda: (worker_pids(server.process.pid) - before) or None, 5, "a new worker"
        )
        took = time.monotonic() - killed
        served_at_kill = load.results["200"]
        wait_for(lambda: load.results["200"] > served_at_kill + 100, 5, "service to go on")
    reliability.record(
        scenario="worker SIGKILL",
        worker_class=worker_class,
        load=f"{clients} keep-alive clients",
        fault="SIGKILL one worker",
        requests=load.total,
        failed=load.failed,
        outcome=f"replaced in {took * 1000:.0f} ms",
    )
    assert len(replacement) == 1
    assert took < 1, f"replacement took {took:.2f}s"
    # At most the requests the killed worker held: one per client connection on it.
    # With a listening socket per worker, a client reconnecting in the moment the
    # kernel tears the dead worker down can land in its queue and be reset as well:
    # at most one more per client (measured: 5 failures for 4 clients, once).
    per_client = 2 if own_listeners_wanted(True, worker_class, 0) else 1
    assert load.failed <= clients * per_client, load.results


@pytest.mark.parametrize(
    ("worker_class", "hang"),
    [("sync", "/_probe/slow?seconds=20"), ("gevent", "/_probe/spin?seconds=20")],
)
def test_hung_worker_is_killed_and_others_keep_serving(start_gunicorn, worker_class, hang):
    # One shared listening socket (sync always; gevent with GUNICORN_REUSE_PORT=false):
    # whichever worker is free takes each new connection, so nothing waits on the
    # hung one.
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": worker_class,
            "GUNICORN_TIMEOUT": "2",
            "GUNICORN_REUSE_PORT": "false",
        }
    )
    health, took, replaced = _health_while_one_worker_hangs(server, hang, client_timeout=3)
    reliability.record(
        scenario="hung request",
        worker_class=worker_class,
        load="sequential /health",
        fault=f"GET {hang.split('?')[0]} past GUNICORN_TIMEOUT=2 (shared listener)",
        requests=sum(health.values()),
        failed=sum(health.values()) - health["200"],
        outcome=f"worker replaced after {took:.1f}s" if replaced else "not replaced",
    )
    assert replaced, "the hung worker was not replaced"
    assert took < 6
    assert set(health) == {"200"}, health


def test_hung_gevent_worker_with_own_listeners_loses_only_its_queue(start_gunicorn):
    # The default for gevent: each worker has its own listening socket
    # (worker_listeners.py). A new connection the kernel hashes to the hung worker
    # waits in that worker's queue and is reset when the worker is killed; every
    # other connection is served, and the replacement serves from then on.
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": "gevent", "GUNICORN_TIMEOUT": "2"})
    health, took, replaced = _health_while_one_worker_hangs(
        server, "/_probe/spin?seconds=20", client_timeout=10
    )
    after = Counter(
        str(requests.get(f"{server.url}/health", timeout=3).status_code) for _ in range(20)
    )
    failed = sum(health.values()) - health["200"]
    reliability.record(
        scenario="hung request",
        worker_class="gevent",
        load="sequential /health",
        fault="GET /spin past GUNICORN_TIMEOUT=2 (a listener per worker)",
        requests=sum(health.values()) + 20,
        failed=failed,
        outcome=f"worker replaced after {took:.1f}s; {failed} queued on it reset",
    )
    assert replaced, "the hung worker was not replaced"
    assert took < 8
    # Only connections queued on the hung worker fail, and only as a reset: the
    # sequential loop can have one waiting there at a time.
    assert failed <= 1, health
    assert set(health) - {"200"} <= {"ConnectionError"}, health
    assert after == {"200": 20}


def _health_while_one_worker_hangs(server, hang: str, client_timeout: float):
    """Hang one worker on `hang`, then GET /health on new connections until it is replaced."""
    wait_for_health(server.url)
    before = server.wait_for_workers()
    hung = threading.Thread(target=lambda: _ignore_errors(f"{server.url}{hang}"))
    hung.start()
    # From here on the hung worker accepts nothing more (its only thread, or its
    # event loop, is stuck).
    server.wait_for_line(SPIN_STARTED if "spin" in hang else SLOW_STARTED)
    started = time.monotonic()
    health = Counter()
    replaced = set()
    while time.monotonic() - started < 10 and not replaced:
        try:  # a new connection each time
            response = requests.get(f"{server.url}/health", timeout=client_timeout)
            health[str(response.status_code)] += 1
        except requests.RequestException as error:
            health[type(error).__name__] += 1
        replaced = worker_pids(server.process.pid) - before
        time.sleep(0.05)
    took = time.monotonic() - started
    hung.join(timeout=25)
    return health, took, replaced


def test_hung_request_on_gthread_leaves_other_requests_alone(start_gunicorn):
    # gthread's timeout is a heartbeat of the worker's main thread, which a stuck
    # request thread does not stop: the request holds one thread, nothing more. The
    # other requests go on until the timeout, and the master's check of it (about once
    # a second), are past while the request still hangs: no worker may be replaced.
    timeout, hang = 2, 5
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_TIMEOUT": str(timeout)})
    wait_for_health(server.url)
    workers = server.wait_for_workers()
    slow = f"{server.url}/_probe/slow?seconds={hang}"
    hung = threading.Thread(target=lambda: _ignore_errors(slow))
    hung.start()
    server.wait_for_line(SLOW_STARTED)
    past_the_timeout = time.monotonic() + timeout + 1.5
    statuses = Counter()
    while time.monotonic() < past_the_timeout and statuses.total() < 1000:
        statuses[str(requests.get(f"{server.url}/health", timeout=3).status_code)] += 1
        time.sleep(0.02)  # pacing of the sampler, not a wait for state
    replaced = worker_pids(server.process.pid) != workers
    # The request hangs on: its server goes, and the request with it.
    server.stop()
    hung.join(timeout=10)
    reliability.record(
        scenario="hung request",
        worker_class="gthread",
        load=f"{statuses.total()} sequential /health",
        fault=f"GET /slow for {hang} s, GUNICORN_TIMEOUT={timeout}",
        requests=statuses.total(),
        failed=statuses.total() - statuses["200"],
        outcome="a worker replaced" if replaced else "one thread held; worker kept serving",
    )
    assert set(statuses) == {"200"}, statuses
    assert not replaced, "the hung request cost its worker, not one thread"


@pytest.mark.parametrize("worker_class", ["gthread", "gevent", "sync"])
def test_worker_recycling_under_load_fails_nothing(start_gunicorn, worker_class):
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": worker_class,
            "GUNICORN_MAX_REQUESTS": "100",
            "GUNICORN_MAX_REQUESTS_JITTER": "20",
        }
    )
    wait_for_health(server.url)
    # 1500 requests, or what a loaded machine serves in 15 s: a few hundred already
    # recycle each worker more than once, which is what the assertions need.
    with Load(server.url, "/health", clients=4, max_requests=1500, seconds=15) as load:
        wait_for(
            lambda: load.total >= 1500 or time.monotonic() > load.deadline,
            20,
            "1500 requests or the load's 15 s",
        )
    recycles = sum("Autorestarting worker" in line for line in server.lines())
    reliability.record(
        scenario="worker recycling",
        worker_class=worker_class,
        load="4 keep-alive clients",
        fault="GUNICORN_MAX_REQUESTS=100, jitter 20",
        requests=load.total,
        failed=load.failed,
        outcome=f"{recycles} recycles",
    )
    # At least two: a gevent worker polls its limit once a second (gunicorn's run
    # loop) and drains for up to another, so fewer recycles fit in the run.
    assert recycles >= 2
    assert load.failed == 0, load.results


# sync serves one request per process and cannot be protected: it is meant for
# CPU-bound work behind a router that buffers requests (see SECURITY.md).
@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_slow_clients_do_not_starve_the_worker(start_gunicorn, worker_class):
    """Slowloris: 40 connections dribble their headers, a byte every 0.5 s."""
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    wait_for_health(server.url)
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(40)]
    latencies = []
    try:
        for connection in slow:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for connection in slow:
                connection.sendall(b"X")
            started = time.monotonic()
            response = requests.get(f"{server.url}/health", timeout=5)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            time.sleep(0.5)
    finally:
        for connection in slow:
            connection.close()
    reliability.record(
        scenario="slow clients (slowloris)",
        worker_class=worker_class,
        load="40 slow connections",
        fault="headers dribbled 1 byte / 0.5 s for 4 s",
        requests=len(latencies),
        failed=0,
        outcome=f"worst /health {max(latencies) * 1000:.0f} ms",
    )
    assert max(latencies) < 1.0, latencies


def _ignore_errors(url: str) -> None:
    with contextlib.suppress(requests.RequestException):  # its worker is killed on purpose
        requests.get(url, timeout=25)
