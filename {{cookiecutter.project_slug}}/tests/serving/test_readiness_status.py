"""/ready's timed checks and /status: real gunicorn per worker class (harness/ops_app.py),
plus the machinery in-process for what needs no server (draining, order, the time limit)."""

import os
import socket
import statistics
import time

import pytest
import requests
from harness.http import wait_for, wait_for_health
from harness.ops_app import HANG_STARTED, RAISED_MESSAGE, SERVICE, VERSION
from harness.processes import worker_pids

from {{ cookiecutter.package_name }}.serving import check_readiness, lifecycle, service_status

OPS_APP = "harness.ops_app:app"
WORKER_CLASSES = ["sync", "gthread", "gevent"]
# Short, so the tests are; what it must stay under is the platforms' probe timeout.
CHECK_TIMEOUT = 0.5
REVISION = "ops-probe-00042-xyz"


@pytest.fixture(params=WORKER_CLASSES)
def server(request, start_gunicorn):
    """One worker, so every probe meets the same worker's hung check."""
    started = time.time()
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": request.param,
            "WEB_CONCURRENCY": "1",
            "READY_CHECK_TIMEOUT": str(CHECK_TIMEOUT),
            "K_REVISION": REVISION,
        },
        app=OPS_APP,
    )
    wait_for_health(server.url)
    server.worker_class = request.param
    server.started = started
    return server


def ready(server, query: str = "") -> tuple[requests.Response, float]:
    began = time.monotonic()
    response = requests.get(f"{server.url}/ready{query}", timeout=10)
    return response, time.monotonic() - began


def test_ready_names_each_check_with_its_time(server):
    response, _took = ready(server)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert list(body["checks"]) == ["flag", "hang", "quick", "raising"]  # JSON sorts keys
    for result in body["checks"].values():
        assert result["ok"] is True and 0 <= result["duration_ms"] < CHECK_TIMEOUT * 1000

    response, _took = ready(server, "?fail=1&raise=1")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("unavailable", ["flag", "raising"])
    assert body["checks"]["flag"] == {
        "ok": False,
        "duration_ms": body["checks"]["flag"]["duration_ms"],
        "error": "returned false",
    }
    assert body["checks"]["raising"]["error"] == "raised ConnectionRefusedError"
    assert body["checks"]["quick"]["ok"] is True
    # The exception's message names a host: the log has it, the body never.
    assert RAISED_MESSAGE not in response.text
    wait_for(
        lambda: any(RAISED_MESSAGE in line for line in server.lines()),
        5,
        "the raised check's traceback in the log",
    )


def test_a_hung_check_fails_on_time_and_holds_one_thread(server):
    probes = []
    for _ in range(3):
        response, took = ready(server, "?hang=1")
        probes.append((response.status_code, response.json(), took))
    print(f"\n{server.worker_class}: /ready with a hung check took {[p[2] for p in probes]}")
    for status, body, took in probes:
        assert status == 503 and body["failing"] == ["hang"]
        assert body["checks"]["hang"]["error"] == "timed out"
        assert body["checks"]["hang"]["duration_ms"] >= CHECK_TIMEOUT * 1000
        assert body["checks"]["quick"]["ok"] is True
        # The probe's own deadline: the time limit, plus the request's few ms.
        assert took < CHECK_TIMEOUT + 1.0
    # Later probes find it still running: reported, not started again.
    first, last = (probe[1]["checks"]["hang"]["duration_ms"] for probe in (probes[0], probes[2]))
    assert last > first
    assert sum(HANG_STARTED in line for line in server.lines()) == 1

    # Meanwhile the worker serves: the hung check waits in a thread (a greenlet under gevent).
    began = time.monotonic()
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
    assert time.monotonic() - began < 1.0


def test_status_says_what_runs_without_host_details(server):
    response = requests.get(f"{server.url}/status", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "service",
        "version",
        "revision",
        "started_at",
        "worker_class",
        "workers",
    }
    assert (body["service"], body["version"], body["revision"]) == (SERVICE, VERSION, REVISION)
    assert (body["worker_class"], body["workers"]) == (server.worker_class, 1)
    started = time.mktime(time.strptime(body["started_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert server.started - 1 <= started <= time.time()

    everything = response.text + str(response.headers)
    for leak in (socket.gethostname(), os.getcwd(), str(server.output.parent)):
        assert leak not in everything
    secrets = [value for name, value in os.environ.items() if "SECRET" in name and value]
    assert not [secret for secret in secrets if secret in everything]


def test_status_is_as_cheap_as_health(server):
    """No read per request: the facts are gathered once per worker."""

    def median_ms(path: str) -> float:
        with requests.Session() as session:
            times = []
            for _ in range(40):
                began = time.perf_counter()
                assert session.get(f"{server.url}{path}", timeout=5).status_code == 200
                times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)

    requests.get(f"{server.url}/status", timeout=5)  # the worker's first: gathers the facts
    health, status = median_ms("/health"), median_ms("/status")
    print(f"\n{server.worker_class}: median /health {health:.2f} ms, /status {status:.2f} ms")
    # Loose against a shared machine's noise; a file or network read per request
    # (worker sizing reads cgroup files) would still show.
    assert status < health * 2 + 2


def test_status_reports_the_masters_start_in_a_later_worker(start_gunicorn):
    """A worker forked over a second after the boot still reports the boot's time."""
    server = start_gunicorn(
        {"GUNICORN_WORKER_CLASS": "sync", "WEB_CONCURRENCY": "1", "GUNICORN_MAX_REQUESTS": "3"},
        app=OPS_APP,
    )
    wait_for_health(server.url)  # the worker's first request
    (first_worker,) = server.wait_for_workers()
    first = requests.get(f"{server.url}/status", timeout=5).json()["started_at"]
    # Its third request, over a second long: then the worker is recycled.
    assert requests.get(f"{server.url}/_ops/wait/1100", timeout=10).ok

    def replaced():
        pids = worker_pids(server.process.pid)
        return pids if pids and first_worker not in pids else None

    wait_for(replaced, 15, "the recycled worker's replacement")
    wait_for_health(server.url)
    assert requests.get(f"{server.url}/status", timeout=5).json()["started_at"] == first


# In-process: the machinery without a server.


def test_draining_answers_503_without_running_a_check():
    ran = []
    lifecycle.start_draining()
    body, status = check_readiness([("never", lambda: ran.append(1))])
    assert (status, body["status"], body["failing"]) == (503, "draining", ["shutdown"])
    assert ran == []


def test_no_checks_is_ready():
    assert check_readiness([]) == ({"status": "ready", "checks": {}}, 200)


def test_the_time_limit_follows_the_variable(monkeypatch):
    monkeypatch.setenv("READY_CHECK_TIMEOUT", "0.2")
    began = time.monotonic()
    body, status = check_readiness([("slow", lambda: time.sleep(0.6) or True)])
    took = time.monotonic() - began
    assert status == 503 and body["checks"]["slow"]["error"] == "timed out"
    assert 0.2 <= took < 0.5


def test_status_outside_a_boot_follows_the_environment(monkeypatch):
    monkeypatch.setenv("RENDER_GIT_COMMIT", "abc123")
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", "gevent")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    facts = service_status("svc", "1.2.3")
    assert (facts["revision"], facts["worker_class"], facts["workers"]) == ("abc123", "gevent", 3)
    monkeypatch.setenv("K_REVISION", "first-wins")
    assert service_status("svc", "1.2.3")["revision"] == "first-wins"
