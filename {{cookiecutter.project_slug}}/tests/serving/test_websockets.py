"""WebSocket routes through the worker classes (serving/websockets.py), with a real client.

Real gunicorn, one worker, per class (harness/websocket_app.py adds the routes): the
round trip, a 1 MiB message, ping/pong, a clean close, the idle timeout, the bound
refused with 503 at once while /health answers, the Origin check, and SIGTERM
closing every socket with 1001, as a reload (SIGHUP) does. The sync class answers 501.
A session is counted and traced as the switch of protocols it is, never as an error.
"""

import contextlib
import re
import signal
import statistics
import time

import pytest
import requests
import websocket
from harness.http import free_port, wait_for, wait_for_health
from harness.otlp_receiver import STATUS_ERROR, otlp_receiver
from harness.processes import worker_pids
from harness.scrape import scrape, total
from harness.websocket_app import OPENED, RETURNED

from {{ cookiecutter.package_name }}.serving.settings import SettingsError, load_settings

WEBSOCKET_APP = "harness.websocket_app:app"
CLASSES = ["gthread", "gevent"]
# Open sockets per worker in these tests: gthread's bound is GUNICORN_THREADS - 1.
THREADS = 4
GEVENT_BOUND = 6
BOUND = {"gthread": THREADS - 1, "gevent": GEVENT_BOUND}
# A refusal or a probe answered at once, on a loaded CI machine.
PROMPT = 2.0


def start(start_gunicorn, worker_class, **env):
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": worker_class,
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": str(THREADS if worker_class == "gthread" else 1),
            "WEBSOCKET_MAX_PER_WORKER": str(GEVENT_BOUND),
            **env,
        },
        app=WEBSOCKET_APP,
    )
    wait_for_health(server.url)
    return server


def ws_url(server, path="/_probe/ws/echo") -> str:
    return server.url.replace("http://", "ws://") + path


def connect(server, path="/_probe/ws/echo", **options) -> websocket.WebSocket:
    return websocket.create_connection(ws_url(server, path), timeout=10, **options)


@contextlib.contextmanager
def open_sockets(server, count: int):
    sockets = []
    try:
        for _ in range(count):
            sockets.append(connect(server))
        yield sockets
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)


def close_code(ws: websocket.WebSocket) -> tuple[int, str]:
    """The next close frame the server sends; frames before it are skipped, and pings
    left unanswered (recv_frame, unlike recv, sends no pong)."""
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big"), frame.data[2:].decode()


@pytest.mark.parametrize("worker_class", CLASSES)
def test_messages_round_trip_whole_and_pings_are_answered(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    with open_sockets(server, 1) as (ws,):
        times = []
        for number in range(200):
            sent = time.perf_counter()
            ws.send(f"message {number}")
            assert ws.recv() == f"message {number}"
            times.append(time.perf_counter() - sent)
        large = bytes(range(256)) * 4096  # 1 MiB, MAX_CONTENT_LENGTH's default
        ws.send_binary(large)
        assert ws.recv() == large
        ws.ping(b"are you there")
        opcode, frame = ws.recv_data_frame(True)
        assert (opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    median = statistics.median(times) * 1000
    print(
        f"\n{worker_class}: round trip median {median:.2f} ms, p99 "
        f"{sorted(times)[197] * 1000:.2f} ms over 200 messages"
    )


@pytest.mark.parametrize("worker_class", CLASSES)
def test_a_server_close_is_clean_and_a_too_large_message_is_1009(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class, MAX_CONTENT_LENGTH="1000")
    with open_sockets(server, 1) as (ws,):
        ws.send("x" * 1001)
        assert close_code(ws) == (1009, "Message is too big")
    ws = websocket.create_connection(ws_url(server, "/_probe/ws/close"), timeout=10)
    assert close_code(ws) == (1000, "done")
    ws.close()
    wait_for(lambda: sum(RETURNED in line for line in server.lines()) >= 2, 10, "views returned")


@pytest.mark.parametrize("worker_class", CLASSES)
def test_past_the_bound_a_socket_is_refused_at_once_and_probes_answer(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    bound = BOUND[worker_class]
    with open_sockets(server, bound) as sockets:
        wait_for(lambda: sum(OPENED in line for line in server.lines()) >= bound, 10, "opened")
        for _ in range(3):  # more clients than the bound
            asked = time.monotonic()
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                connect(server)
            assert time.monotonic() - asked < PROMPT
            assert refused.value.status_code == 503
            assert refused.value.resp_headers["retry-after"] == "1"
        for path in ("/health", "/ready", "/_probe/url"):
            asked = time.monotonic()
            assert requests.get(server.url + path, timeout=PROMPT).status_code == 200
            print(
                f"\n{worker_class}: {path} with {bound} sockets open: "
                f"{(time.monotonic() - asked) * 1000:.0f} ms"
            )
        for ws in sockets:  # every held socket still works
            ws.send("still here")
            assert ws.recv() == "still here"
        sockets[0].close()
        # Its slot is free once its view has returned.
        wait_for(lambda: any(RETURNED in line for line in server.lines()), 10, "returned")
        with open_sockets(server, 1) as (again,):
            again.send("again")
            assert again.recv() == "again"


@pytest.mark.parametrize("worker_class", CLASSES)
def test_a_session_is_counted_and_traced_as_a_switch_not_as_an_error(
    start_gunicorn, worker_class, tmp_path
):
    # flask-sock ends a session by raising StopIteration out of the app, gunicorn's
    # sign to close the connection: the metrics and the span must not take it for a
    # crash (a 5xx, a span in error) nor put a session's length in the latency buckets.
    metrics_port = free_port()
    with otlp_receiver() as receiver:
        server = start(
            start_gunicorn,
            worker_class,
            METRICS_PORT=str(metrics_port),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        with open_sockets(server, 1) as (ws,):
            ws.send("counted")
            assert ws.recv() == "counted"
        wait_for(lambda: any(RETURNED in line for line in server.lines()), 10, "view returned")
        route = "/_probe/ws/echo"
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        def counted():
            return total(scrape(metrics_url), "http_requests_total", route=route) or None

        wait_for(counted, 10, "the session counted")
        samples = scrape(metrics_url)
        assert total(samples, "http_requests_total", route=route, status_class="1xx") == 1
        assert total(samples, "http_requests_total", route=route) == 1
        assert total(samples, "http_request_duration_seconds_count", route=route) == 0
        assert total(samples, "http_requests_in_flight") == 0
        (span,) = receiver.wait_for_spans(1)
        assert span.name == f"GET {route}"
        assert span.attributes["http.route"] == route
        assert span.attributes["http.response.status_code"] == 101
        assert span.status_code != STATUS_ERROR, span


@pytest.mark.parametrize("worker_class", CLASSES)
def test_a_cross_site_origin_is_refused(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server, origin="https://evil.example")
    assert refused.value.status_code == 403
    connect(server, origin=server.url).close()  # 127.0.0.1, as the Host
    trusted = start(start_gunicorn, worker_class, TRUSTED_HOSTS="127.0.0.1,.example.com")
    connect(trusted, origin="https://app.example.com").close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(trusted, origin="https://example.org")
    assert refused.value.status_code == 403
    # A Host the service does not serve is refused first, as for any request: its 400
    # before the socket's checks, which would read that Host or take a slot.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(trusted, host="evil.example", origin="https://evil.example")
    assert refused.value.status_code == 400


@pytest.mark.parametrize("worker_class", CLASSES)
def test_the_server_pings_and_closes_a_silent_client(start_gunicorn, worker_class):
    server = start(
        start_gunicorn, worker_class, WEBSOCKET_PING_INTERVAL="1", WEBSOCKET_IDLE_TIMEOUT="3"
    )
    with open_sockets(server, 1) as (ws,):
        assert ws.recv_frame().opcode == websocket.ABNF.OPCODE_PING  # within the interval
        ws.pong(b"")  # a live client: heard from, so not idle
        # Then silent: no pong to the next pings.
        heard = time.monotonic()
        assert close_code(ws) == (1000, "idle timeout")
        assert 2 < time.monotonic() - heard < 3 + 2 * PROMPT
    wait_for(lambda: any(RETURNED in line for line in server.lines()), 10, "view returned")


@pytest.mark.parametrize("worker_class", CLASSES)
def test_sigterm_closes_every_socket_with_1001_and_the_worker_exits(start_gunicorn, worker_class):
    graceful = 8
    server = start(start_gunicorn, worker_class, GUNICORN_GRACEFUL_TIMEOUT=str(graceful))
    bound = BOUND[worker_class]
    with open_sockets(server, bound) as sockets:
        wait_for(lambda: sum(OPENED in line for line in server.lines()) >= bound, 10, "opened")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for ws in sockets:
            assert close_code(ws) == (1001, "going away")
        closed = time.monotonic() - signalled
        exit_code = server.process.wait(timeout=graceful + 5)
    took = time.monotonic() - signalled
    print(
        f"\n{worker_class}: {bound} sockets closed with 1001 {closed:.2f}s after SIGTERM, "
        f"gunicorn exited in {took:.2f}s (graceful timeout {graceful}s)"
    )
    assert exit_code == 0
    assert closed < 1.5
    assert took < graceful / 2, f"took {took:.1f}s"
    assert sum(RETURNED in line for line in server.lines()) == bound


@pytest.mark.parametrize(
    ("worker_class", "threads", "named"),
    [
        ("sync", "1", b"GUNICORN_WORKER_CLASS=gthread or gevent"),
        ("gthread", "1", b"GUNICORN_THREADS=2"),
    ],
)
def test_a_worker_without_a_spare_thread_refuses_websockets_with_501(
    start_gunicorn, worker_class, threads, named
):
    server = start(start_gunicorn, worker_class, GUNICORN_THREADS=threads)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server)
    assert refused.value.status_code == 501
    assert named in refused.value.resp_body
    assert requests.get(server.url + "/health", timeout=PROMPT).status_code == 200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBSOCKET_MAX_PER_WORKER": "0"}, "WEBSOCKET_MAX_PER_WORKER='0' is not allowed"),
        ({"WEBSOCKET_PING_INTERVAL": "-1"}, "WEBSOCKET_PING_INTERVAL='-1' is not allowed"),
        (
            {"WEBSOCKET_PING_INTERVAL": "30", "WEBSOCKET_IDLE_TIMEOUT": "30"},
            "WEBSOCKET_IDLE_TIMEOUT=30 is not allowed with WEBSOCKET_PING_INTERVAL=30",
        ),
    ],
)
def test_bad_websocket_settings_are_one_line_naming_the_variable(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env)
    # 0 turns pings or the idle timeout off, whatever the other says.
    assert load_settings({"WEBSOCKET_PING_INTERVAL": "0", "WEBSOCKET_IDLE_TIMEOUT": "5"})
    assert load_settings({"WEBSOCKET_PING_INTERVAL": "30", "WEBSOCKET_IDLE_TIMEOUT": "0"})


@pytest.mark.parametrize("worker_class", CLASSES)
def test_a_reload_closes_open_sockets_with_1001_and_a_new_worker_takes_the_reconnect(
    start_gunicorn, worker_class
):
    server = start(start_gunicorn, worker_class, GUNICORN_GRACEFUL_TIMEOUT="8")
    old = set(worker_pids(server.process.pid))
    with open_sockets(server, 1) as (ws,):
        wait_for(lambda: any(OPENED in line for line in server.lines()), 10, "opened")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGHUP)
        assert close_code(ws) == (1001, "going away")
        closed = time.monotonic() - signalled

    # The reconnect: to a worker the reload started, never to the one that closed it.
    def replaced():
        pids = set(worker_pids(server.process.pid))
        return pids and not old & pids

    wait_for(replaced, 10, "old workers gone, a new one running")
    new = set(worker_pids(server.process.pid))
    with open_sockets(server, 1) as (ws,):
        ws.send("again")
        assert ws.recv() == "again"
    print(f"\n{worker_class}: 1001 {closed:.2f}s after SIGHUP; workers {old} -> {new}")
    assert closed < 1.5
    assert new and not new & old
