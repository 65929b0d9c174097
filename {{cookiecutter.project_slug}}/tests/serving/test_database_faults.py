"""PostgreSQL restarted under load: requests fail fast with 503, then recover by themselves.

On a throwaway server of the test's own (never the shared TEST_POSTGRES_URL one), for
each worker class: a bounded load of database requests runs while the server stops
(a fast shutdown, which also ends the queries in flight) and starts again on the same
port. While it is down every request answers 503 within the connect bound, /health
stays 200 and /ready answers 503 naming the database; once it is back every request
answers 200 again, from the same workers (pre-ping replaces the pooled connections the
restart broke; nothing restarts the service).
"""

import time

import psycopg
import pytest
import requests
from harness import reliability
from harness.http import wait_for, wait_for_health
from harness.load import Load
from harness.processes import worker_pids

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.serving.database import CONNECT_TIMEOUT

# Not marked slow: about 5 s a worker class, and no other test restarts the database,
# so it runs wherever the database tests run (CI's postgresql bake skips `slow`).
DATABASE_APP = "harness.database_app:app"
# A query that holds its connection a little, so the shutdown meets queries in flight.
QUERY_PATH = "/_probe/db/sleep?seconds=0.02"
# Any request while the server is down answers within the connect bound (refused at
# once on 127.0.0.1; CONNECT_TIMEOUT for a host that does not answer), plus a margin
# for a loaded 2-core machine: far below the worker timeout (30 s) a hang would reach.
ANSWER_SECONDS = CONNECT_TIMEOUT + 2
CLIENTS = 6
MAX_REQUESTS = 5000
LOAD_SECONDS = 60
# What each phase must have seen before the test moves on: enough requests to be sure
# of the behaviour, few enough to keep the test a few seconds long.
SEEN_PER_PHASE = 30


@pytest.mark.parametrize("worker_class", ["sync", "gthread", "gevent"])
def test_a_database_restart_under_load_answers_503_fast_then_recovers(
    start_gunicorn, own_postgres_server, worker_class
):
    server = own_postgres_server
    database = server.create_database()
    gunicorn = start_gunicorn(
        {
            "DATABASE_URL": server.url(database),
            "GUNICORN_WORKER_CLASS": worker_class,
            "WEB_CONCURRENCY": "2",
        },
        app=DATABASE_APP,
    )
    wait_for_health(gunicorn.url)
    workers = gunicorn.wait_for_workers()

    load = Load(gunicorn.url, QUERY_PATH, CLIENTS, MAX_REQUESTS, LOAD_SECONDS, timeout=30)
    with load:
        up = time.monotonic()
        load.wait_for_requests(up, SEEN_PER_PHASE)

        stopping = time.monotonic()
        server.stop()
        down = time.monotonic()
        load.wait_for_requests(down, SEEN_PER_PHASE)
        health_started = time.monotonic()
        health = requests.get(f"{gunicorn.url}/health", timeout=10)
        health_seconds = time.monotonic() - health_started
        ready = requests.get(f"{gunicorn.url}/ready", timeout=10)

        starting = time.monotonic()
        server.start()
        back = time.monotonic()
        load.wait_for_requests(back, SEEN_PER_PHASE)
        ready_after = requests.get(f"{gunicorn.url}/ready", timeout=10)

    everything = load.between(up)
    statuses = {o.status for o in everything}
    slowest = max(o.ended - o.started for o in everything)
    before = load.between(up, stopping)
    outage = load.between(down, starting)
    after = load.between(back)
    reliability.record(
        scenario="PostgreSQL restarted (fast shutdown, start again)",
        worker_class=worker_class,
        load=f"{CLIENTS} clients, database requests",
        fault="server stopped, then started on the same port",
        requests=len(everything),
        failed=sum(o.status != "200" for o in everything),
        outcome=f"down: {len(outage)} x 503; back: {len(after)} x 200; slowest {slowest:.2f}s",
    )
    # Only answers: a 503 or a 200, never a 500, a reset or a hang to the worker timeout.
    assert statuses <= {"200", "503"}, statuses
    assert slowest < ANSWER_SECONDS, slowest
    assert {o.status for o in before} == {"200"}
    assert len(outage) >= SEEN_PER_PHASE and {o.status for o in outage} == {"503"}
    assert health.status_code == 200 and health_seconds < 1, health_seconds
    assert ready.status_code == 503 and "database" in ready.text, ready.text
    # Recovered by itself, in the same workers: every request once the server is back.
    assert len(after) >= SEEN_PER_PHASE and {o.status for o in after} == {"200"}
    assert ready_after.status_code == 200, ready_after.text
    assert worker_pids(gunicorn.process.pid) == workers


def test_a_connection_lost_after_the_views_work_keeps_its_answer(
    postgres_database_url, monkeypatch
):
    """The instant the restart above can hit: the view's query is done, then the server
    ends the connection before the ROLLBACK that closes the request's session. The
    answer stands (200, not a 500 raised from teardown), and the next request gets a
    new connection."""
    from harness.database_app import create_database_app
    from sqlalchemy import text

    monkeypatch.setenv("DATABASE_URL", postgres_database_url)
    app = create_database_app()

    @app.get("/_probe/db/connection-ended")
    def connection_ended():
        backend = serving.db_session().execute(text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(postgres_database_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (backend,))
            # That returns once signalled; the backend is gone once no longer listed.
            listed = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
            wait_for(lambda: not other.execute(listed, (backend,)).fetchone(), 5, "its end")
        return {"backend": backend}

    client = app.test_client()
    ended = client.get("/_probe/db/connection-ended")
    assert ended.status_code == 200, ended.text
    after = client.get("/_probe/db/backend")
    assert after.status_code == 200, after.text
    assert after.json["backend"] != ended.json["backend"]
