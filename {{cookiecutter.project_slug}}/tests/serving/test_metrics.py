"""Prometheus metrics against real gunicorn masters: exact counts, for every worker class.

N requests spread over every worker give exactly N in one scrape, whichever worker
answers it; after a worker is SIGKILLed and replaced and workers are recycled under
GUNICORN_MAX_REQUESTS, no counter or histogram series goes backwards from one scrape
to the next and the total stays exact (the dead workers' files are folded into an
archive, metrics_files.py). The metrics port answers /metrics alone, and /metrics on
the main port needs METRICS_TOKEN.
"""

import math
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from harness.http import free_port, wait_for, wait_for_health
from harness.processes import worker_pids
from harness.scrape import CUMULATIVE, scrape, total

from {{ cookiecutter.package_name }}.serving.settings import DEFAULT_WORKER_CLASS

# Every class in the full run; a quick run (-m "not slow") checks the default one.
WORKER_CLASSES = [
    pytest.param(name, marks=[] if name == DEFAULT_WORKER_CLASS else [pytest.mark.slow])
    for name in ("sync", "gthread", "gevent")
]
METRICS_APP = "harness.metrics_app:app"
ROUTE = "/items/<int:item>"
# Requests per phase: enough for every worker to serve some on fresh connections.
REQUESTS = 60
# Concurrent clients, and the seconds each request takes in the app (see send()).
CLIENTS, HOLD = 6, 0.02


def start(start_gunicorn, worker_class: str, folder, **env: str):
    """A master of the metrics app; its metrics' files in `folder` (the test's own: a
    master killed by the fixture leaves nothing in the machine's /tmp)."""
    metrics_port = free_port()
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": worker_class,
            "WEB_CONCURRENCY": "3",
            "METRICS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
            **env,
        },
        app=METRICS_APP,
    )
    server.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    wait_for_health(server.url)
    return server


def send(server, count: int, first: int = 0) -> set[int]:
    """`count` GETs of ROUTE from CLIENTS threads, each on a new connection; the pids
    that answered. Each takes HOLD seconds in the app, so the requests overlap and
    every worker gets some (one idle sync worker would otherwise win every accept)."""

    def get(number: int) -> int:
        response = requests.get(f"{server.url}/items/{number}?hold={HOLD}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["pid"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return set(pool.map(get, range(first, first + count)))


def counted(server) -> float:
    return total(scrape(server.metrics_url), "http_requests_total", route=ROUTE)


def wait_for_count(server, expected: int) -> None:
    """The count lands when a body is closed, just after the client has it: poll."""
    wait_for(lambda: counted(server) == expected, 10, f"http_requests_total == {expected}")


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_every_worker_counts_once_and_a_scrape_adds_them_up(start_gunicorn, worker_class, tmp_path):
    server = start(start_gunicorn, worker_class, tmp_path / "metrics")
    booted = server.wait_for_workers()
    pids = send(server, REQUESTS)
    assert pids == booted, "every worker should have answered some requests"
    wait_for_count(server, REQUESTS)
    # Every scrape, whichever worker answers it, says the same.
    assert {counted(server) for _ in range(6)} == {REQUESTS}

    requests.get(f"{server.url}/no/such/path/{os.urandom(4).hex()}", timeout=5)
    requests.request("BREW", f"{server.url}/items/1", timeout=5)
    requests.get(f"{server.url}/stream", timeout=5).raise_for_status()
    samples = wait_for(
        lambda: (
            (s := scrape(server.metrics_url))
            and total(s, "http_requests_total", route="<unmatched>", status_class="4xx") >= 1
            and total(s, "http_requests_total", method="OTHER") == 1
            and total(s, "http_requests_total", route="/stream") == 1
            # A request counts, then leaves the in-flight gauge (metrics_writes.py):
            # a scrape can fall between the two.
            and total(s, "http_requests_in_flight") == 0
            and s
        ),
        10,
        "the 404, the unknown method and the stream counted, none in flight",
    )
    routes = {
        dict(labels).get("route") for name, labels in samples if name == "http_requests_total"
    }
    # The rule, never the raw path: a scanner's paths make one series.
    assert routes == {ROUTE, "<unmatched>", "/stream", "/health"}
    assert total(samples, "http_request_duration_seconds_count", route=ROUTE) == REQUESTS
    assert total(samples, "worker_starts_total") == 3
    assert total(samples, "build_info") == 1
    assert total(samples, "worker_memory_bytes") > 0


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_counts_stay_exact_across_sigkill_and_recycling(start_gunicorn, worker_class, tmp_path):
    # Each worker recycles after 25 to 30 requests: several recycles in this test.
    folder = tmp_path / "metrics"
    server = start(
        start_gunicorn,
        worker_class,
        folder,
        GUNICORN_MAX_REQUESTS="25",
        GUNICORN_MAX_REQUESTS_JITTER="5",
    )
    booted = server.wait_for_workers()
    last: dict[tuple, float] = {}
    backwards: list[str] = []

    def observe() -> dict[tuple, float]:
        """One scrape of every counter and histogram series, each compared with the same
        series in the scrape before: a fold that lost or moved a dead worker's counts
        would show as one series falling, or vanishing, whatever the totals say.
        Noted rather than raised: wait_for() retries through an exception."""
        samples = scrape(server.metrics_url, types=CUMULATIVE)
        for key, before in last.items():
            after = samples.get(key)
            # A _sum is floats added in file order, which a fold changes: its last
            # digits may differ. A lost request moves it by its duration, 20 ms or more.
            if after is None or (after < before and not math.isclose(after, before, rel_tol=1e-9)):
                backwards.append(f"{key}: {before} -> {after}")
        last.clear()
        last.update(samples)
        return samples

    def observe_count() -> float:
        return total(observe(), "http_requests_total", route=ROUTE)

    def nothing_went_backwards() -> None:
        assert not backwards, f"{len(backwards)} series went backwards: {backwards[:5]}"

    # Fewer than any worker's GUNICORN_MAX_REQUESTS: the worker killed next has some
    # requests counted, and no worker has recycled yet.
    sent = 20
    answered = send(server, sent)
    wait_for(lambda: observe_count() == sent, 10, f"{sent} counted")

    victim = min(answered)
    assert victim in booted
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: victim not in (p := worker_pids(server.process.pid)) and len(p) == 3,
        20,
        "the killed worker replaced",
    )
    # The master says what killed it (not the OOM killer here, or memory where the
    # host keeps no count: worker_exits.py).
    server.wait_for_line(f"worker {victim} was killed by SIGKILL")
    for _ in range(4):
        send(server, REQUESTS, first=sent)
        sent += REQUESTS
        observe()
    wait_for(lambda: observe_count() == sent, 10, f"{sent} counted")
    nothing_went_backwards()

    def exits_and_starts():
        samples = observe()
        exits = {
            dict(labels)["reason"] + dict(labels)["signal"]: value
            for (name, labels), value in samples.items()
            if name == "worker_exits_total"
        }
        # Workers past GUNICORN_MAX_REQUESTS have exited (a gevent worker finishes
        # its connections first), and each exit's replacement has booted.
        recycled = exits.get("recycled", 0) >= 2
        if recycled and total(samples, "worker_starts_total") == 3 + sum(exits.values()):
            return samples, exits
        return None

    samples, exits = wait_for(exits_and_starts, 30, "2 recycled, a start for every exit")
    assert exits.get("signalSIGKILL") == 1, exits
    assert set(exits) == {"signalSIGKILL", "recycled"}, exits
    assert total(samples, "http_request_duration_seconds_count", route=ROUTE) == sent
    nothing_went_backwards()
    # Every kind of series was compared, not an empty selection: the counters, the
    # histogram's buckets, count and sum.
    assert {name for name, _ in samples} >= {
        "http_requests_total",
        "worker_starts_total",
        "worker_exits_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
    }

    # The dead workers' files were folded: what is left is the archive and the files
    # of the live workers, however many workers ran. Polled: a scrape counts toward
    # GUNICORN_MAX_REQUESTS too, so a worker the scrapes above sent past it may be
    # exiting now, its files folded once the master has reaped it.
    def only_live_workers_have_files() -> bool:
        live = worker_pids(server.process.pid)
        with_files = {
            int(name.rpartition("_")[2][:-3])
            for name in os.listdir(folder)
            if name.endswith(".db") and "archive" not in name
        }
        return with_files <= live

    wait_for(only_live_workers_have_files, 10, "every dead worker's files folded")
    assert {"counter_archive.db", "histogram_archive.db"} <= set(os.listdir(folder))


def test_the_metrics_port_answers_metrics_alone_and_the_main_port_needs_the_token(
    start_gunicorn, tmp_path
):
    token = "t" * 40
    server = start(start_gunicorn, "gthread", tmp_path / "metrics", METRICS_TOKEN=token)
    metrics_base = server.metrics_url.rpartition("/")[0]
    assert requests.get(f"{metrics_base}/health", timeout=5).status_code == 404
    assert requests.get(f"{metrics_base}/items/1", timeout=5).status_code == 404
    main = f"{server.url}/metrics"
    assert requests.get(main, timeout=5).status_code == 404
    wrong = {"Authorization": "Bearer " + "x" * 40}
    assert requests.get(main, headers=wrong, timeout=5).status_code == 404
    right = {"Authorization": f"Bearer {token}"}
    assert "http_requests_total" in requests.get(main, headers=right, timeout=5).text
    # A Host header cannot make the main port pass for the metrics port.
    spoofed = {"Host": f"127.0.0.1:{metrics_base.rpartition(':')[2]}"}
    assert requests.get(main, headers=spoofed, timeout=5).status_code == 404


def test_a_sync_worker_kept_busy_on_the_main_port_still_answers_a_scrape(start_gunicorn, tmp_path):
    # One sync worker, and a connection always waiting on its main port: it accepts from
    # the sockets one select() found ready, and looks at every socket again within
    # RESELECT_SECONDS (sync_worker.py). Were the metrics port never looked at again,
    # each scrape would wait for the whole load (minutes) and time out.
    server = start(start_gunicorn, "sync", tmp_path / "metrics", WEB_CONCURRENCY="1")
    stop, answered = threading.Event(), []

    def keep_busy() -> None:
        for number in range(5000):  # bounded: about two minutes at most
            if stop.is_set():
                return
            requests.get(f"{server.url}/items/{number}?hold=0.005", timeout=10)
            answered.append(number)

    with ThreadPoolExecutor(4) as pool:
        loads = [pool.submit(keep_busy) for _ in range(4)]
        try:
            wait_for(lambda: len(answered) >= 20, 10, "the main port busy")
            for _ in range(5):
                assert counted(server) > 0  # the scrape answered within its timeout (5 s)
        finally:
            stop.set()
        for load in loads:
            load.result()


def test_a_worker_over_its_budget_warns_once_booted_before_any_request(start_gunicorn, tmp_path):
    # The worker reads its memory once the app is loaded (worker_memory.at_boot): an app
    # too big for its budget is told of, and the gauge set, with no request sent.
    metrics_port = free_port()
    server = start_gunicorn(
        {
            "WEB_CONCURRENCY": "1",
            "WORKER_MEMORY_MB": "1",  # any worker is over it
            "METRICS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        },
        app=METRICS_APP,
    )

    def warnings():
        return [line for line in server.lines() if "over its budget" in line]

    wait_for(warnings, 30, "the memory WARNING")
    assert not [line for line in server.lines() if '"gunicorn.access"' in line]
    assert "WORKER_MEMORY_MB=1" in warnings()[0]
    memory = scrape(f"http://127.0.0.1:{metrics_port}/metrics")[("worker_memory_bytes", ())]
    assert memory > 2**20
