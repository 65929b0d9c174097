"""Streamed responses: their context, their failures and their end at a shutdown.

Real gunicorn per worker class (harness/stream_app.py adds the streaming routes),
plus the middleware in-process for what needs no server: how much it reads ahead,
HEAD, file wrappers, and what a test sees with TESTING on.
"""

import io
import json
import signal
import socket
import time

import pytest
import requests
from flask import abort, request, send_file, stream_with_context
from harness import reliability
from harness.http import wait_for, wait_for_health
from harness.probe_app import create_probe_app
from harness.stream_app import EVENTS_STARTED
from werkzeug.test import EnvironBuilder

from {{ cookiecutter.package_name }}.serving import lifecycle
from {{ cookiecutter.package_name }}.serving.streaming import sleep_unless_draining

STREAM_APP = "harness.stream_app:app"
WORKER_CLASSES = ["sync", "gthread", "gevent"]
# Server-sent events hold a connection for minutes: only for workers that serve others meanwhile.
STREAMING_CLASSES = ["gthread", "gevent"]


def start(start_gunicorn, worker_class, **env):
    server = start_gunicorn(
        {"GUNICORN_WORKER_CLASS": worker_class, "WEB_CONCURRENCY": "1", **env}, app=STREAM_APP
    )
    wait_for_health(server.url)
    return server


def access_lines(server) -> list[dict]:
    """Every access entry but the health checks (an entry gunicorn wrote itself may
    have no path and no request id: those count too)."""
    return [
        line
        for line in server.json_lines()
        if line["logger"] == "gunicorn.access" and line.get("path") != "/health"
    ]


def wait_for_access_line(server, request_id: str) -> dict:
    def written():
        return [line for line in access_lines(server) if line.get("request_id") == request_id]

    return wait_for(written, 10, f"the access line of {request_id}")[0]


def error_lines(server) -> list[dict]:
    return [line for line in server.json_lines() if line["severity"] in ("ERROR", "CRITICAL")]


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_lines_logged_while_a_body_streams_carry_the_request_id(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    plain = requests.get(
        f"{server.url}/_probe/stream/chunks?count=3",
        headers={"X-Request-ID": "stream-plain-1"},
        timeout=10,
    )
    flasks = requests.get(
        f"{server.url}/_probe/stream/with-context",
        headers={"X-Request-ID": "stream-flask-1"},
        timeout=10,
    )
    assert plain.text == "chunk 0\nchunk 1\nchunk 2\n"
    assert flasks.text == "path /_probe/stream/with-context"
    wait_for_access_line(server, "stream-flask-1")
    streamed = [line for line in server.json_lines() if line["logger"] == "probe.stream"]
    by_id = {line["message"]: line.get("request_id") for line in streamed}
    print(f"\n{worker_class}: lines from streamed bodies and their request id: {by_id}")
    assert by_id == {
        "chunk 0": "stream-plain-1",
        "chunk 1": "stream-plain-1",
        "chunk 2": "stream-plain-1",
        # Written by the generator's `finally`, when gunicorn closes the body.
        "chunks closed": "stream-plain-1",
        "streaming /_probe/stream/with-context": "stream-flask-1",
    }
    # Once the response is done, the id is unbound: the next lines carry none.
    assert not any(
        line.get("request_id") for line in server.json_lines() if line["logger"] == "gunicorn.error"
    )


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_body_failing_before_its_first_chunk_gets_the_apps_500(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    answers = {}
    request_ids = {"application/json": "before-json-1", "text/html": "before-html-1"}
    for accept, request_id in request_ids.items():
        answers[accept] = requests.get(
            f"{server.url}/_probe/stream/fail?after=0",
            headers={"Accept": accept, "X-Request-ID": request_id},
            timeout=10,
        )
        wait_for_access_line(server, request_id)
    as_json, as_html = answers["application/json"], answers["text/html"]
    for response in (as_json, as_html):
        print(
            f"\n{worker_class}: {response.status_code} {response.headers['Content-Type']}, "
            f"X-Request-ID {response.headers.get('X-Request-ID')}"
        )
        assert response.status_code == 500
        # The stream's own headers went with it; the ones every response carries stay.
        assert "X-Stream" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert as_json.headers["X-Request-ID"] == "before-json-1"
    # The app's own error handler answered (the probe app's shape, in both kinds).
    assert as_json.json()["probe_error"]["status"] == 500
    assert as_html.headers["X-Request-ID"] == "before-html-1"
    assert as_html.headers["Content-Type"].startswith("text/html")
    assert "probe error 500" in as_html.text

    access = access_lines(server)
    print(f"{worker_class}: access lines: {[line['message'] for line in access]}")
    assert [(line["request_id"], line["status"]) for line in access] == [
        ("before-json-1", 500),
        ("before-html-1", 500),
    ]
    errors = error_lines(server)
    assert [line.get("request_id") for line in errors] == ["before-json-1", "before-html-1"]
    assert all("stream failed after 0 chunks" in line["exception"] for line in errors)

    # HEAD never runs the body (Werkzeug drops it), so nothing fails.
    head = requests.head(
        f"{server.url}/_probe/stream/fail?after=0",
        headers={"X-Request-ID": "head-stream-1"},
        timeout=10,
    )
    assert (head.status_code, head.headers["X-Request-ID"]) == (200, "head-stream-1")
    assert wait_for_access_line(server, "head-stream-1")["status"] == 200


def raw_get(server, path: str, request_id: str) -> bytes:
    """A kept-alive HTTP/1.1 GET, read until the server closes the connection.

    A complete response would leave the connection open (keep-alive) and time
    out here; only a cut one ends in EOF.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {request_id}\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_body_failing_after_its_first_chunk_is_cut_and_logged_once(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class)
    started = time.monotonic()
    received = raw_get(server, "/_probe/stream/fail?after=1", "after-first-1")
    took = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    print(f"\n{worker_class}: cut after {len(body)} body bytes in {took:.2f}s: {body!r}")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"X-Request-ID: after-first-1" in head
    assert b"Transfer-Encoding: chunked" in head
    assert b"chunk 0\n" in body
    # The last chunk never came: the client can tell the body is incomplete.
    assert not body.endswith(b"0\r\n\r\n")

    wait_for_access_line(server, "after-first-1")
    assert [(line["request_id"], line["status"]) for line in access_lines(server)] == [
        ("after-first-1", 200)
    ]
    (error,) = error_lines(server)
    assert error["request_id"] == "after-first-1"
    assert "stream failed after 1 chunks" in error["exception"]
    # The worker goes on serving.
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def read_events(lines, until: bytes) -> list[bytes]:
    """Lines of an event stream up to `until`; the rest stay in the iterator."""
    seen = []
    for line in lines:
        seen.append(line)
        if line == until:
            return seen
    raise AssertionError(f"the stream ended before {until!r}: {seen}")


@pytest.mark.parametrize("worker_class", STREAMING_CLASSES)
def test_an_open_event_stream_ends_at_sigterm_within_the_graceful_timeout(
    start_gunicorn, worker_class
):
    graceful = 8
    server = start(start_gunicorn, worker_class, GUNICORN_GRACEFUL_TIMEOUT=str(graceful))
    requested = time.monotonic()
    with requests.get(
        f"{server.url}/_probe/stream/events",
        headers={"X-Request-ID": "events-1"},
        stream=True,
        timeout=15,
    ) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Request-ID"] == "events-1"
        lines = response.iter_lines()
        # Two chunks while the stream is open: nothing waits for the end of the body.
        read_events(lines, until=b"data: first")
        first_event = time.monotonic() - requested
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The generator sees the worker draining and ends with a last event; the
        # body then ends properly (requests raises on a cut one).
        rest = list(lines)
        ended = time.monotonic() - signalled
    exit_code = server.process.wait(timeout=graceful + 5)
    took = time.monotonic() - signalled
    print(
        f"\n{worker_class}: first event {first_event * 1000:.0f} ms after the request; "
        f"after SIGTERM the stream ended in {ended:.2f}s, gunicorn exited in {took:.2f}s "
        f"(graceful timeout {graceful}s)"
    )
    reliability.record(
        scenario="open SSE stream at SIGTERM (sleep_unless_draining)",
        worker_class=worker_class,
        load="1 open stream",
        fault="SIGTERM",
        requests=1,
        failed=0,
        outcome=f"stream ended with its last event in {ended:.1f}s, exit in {took:.1f}s",
    )
    assert b"event: bye" in rest
    assert exit_code == 0
    assert took < graceful, f"took {took:.1f}s, over the graceful timeout"
    assert any(EVENTS_STARTED in line and "events-1" in line for line in server.lines())


@pytest.mark.parametrize("worker_class", STREAMING_CLASSES)
def test_a_stream_that_ignores_draining_is_cut_at_the_graceful_timeout(
    start_gunicorn, worker_class
):
    # What the helper is for: without it the stream holds the stop until gunicorn
    # gives up on it.
    graceful = 2
    server = start(start_gunicorn, worker_class, GUNICORN_GRACEFUL_TIMEOUT=str(graceful))
    with requests.get(
        f"{server.url}/_probe/stream/events?naive=1", stream=True, timeout=15
    ) as response:
        lines = response.iter_lines()
        read_events(lines, until=b"data: first")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            list(lines)
    server.process.wait(timeout=graceful + 5)
    took = time.monotonic() - signalled
    print(f"\n{worker_class}: a stream ignoring draining was cut; exit in {took:.2f}s")
    reliability.record(
        scenario="open SSE stream at SIGTERM (ignores draining)",
        worker_class=worker_class,
        load="1 open stream",
        fault="SIGTERM",
        requests=1,
        failed=1,
        outcome=f"cut at the graceful timeout ({graceful}s), exit in {took:.1f}s",
    )
    assert graceful - 0.5 < took < graceful + 3


# In-process: the middleware itself.


def _streaming_app(**overrides):
    app = create_probe_app({"TESTING": False, **overrides})
    produced = []

    def body(count: int, fail_at: int | None = None):
        for number in range(count):
            if number == fail_at:
                raise RuntimeError("boom")
            produced.append(number)
            yield f"{number}\n"
        if fail_at == count:
            raise RuntimeError("boom")

    def view():
        fail_at = request.args.get("fail_at")
        return body(int(request.args.get("count", "3")), int(fail_at) if fail_at else None)

    app.add_url_rule("/_test/stream", "_test_stream", view, methods=["GET", "HEAD"])
    return app, produced


def test_the_middleware_reads_one_chunk_ahead_and_no_more():
    app, produced = _streaming_app()
    started = []
    environ = EnvironBuilder(path="/_test/stream", query_string="count=5").get_environ()
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: started.append(status))
    # The response has started (the server may send its headers) with one chunk read.
    assert started == ["200 OK"] and produced == [0]
    iterator = iter(body)
    assert next(iterator) == b"0\n" and produced == [0]
    assert next(iterator) == b"1\n" and produced == [0, 1]
    body.close()
    assert produced == [0, 1]


def test_head_of_a_stream_runs_no_generator_and_keeps_the_request_id():
    app, produced = _streaming_app()
    response = app.test_client().head("/_test/stream", headers={"X-Request-ID": "head-12345"})
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Request-ID"] == "head-12345"
    assert produced == []


def test_before_the_first_chunk_with_testing_on_the_test_sees_the_exception():
    # As for any view: TESTING (and DEBUG) propagate, so a test or the debugger sees it.
    app, _ = _streaming_app(TESTING=True)
    with pytest.raises(RuntimeError, match="boom"):
        app.test_client().get("/_test/stream?fail_at=0")


def test_before_the_first_chunk_with_flasks_stream_with_context(capsys):
    app = create_probe_app({"TESTING": False})

    @stream_with_context
    def failing():
        raise LookupError(f"nothing at {request.path}")
        yield b""  # a generator: it raises while the body is iterated

    app.add_url_rule("/_test/context", "_test_context", lambda: failing())
    capsys.readouterr()
    response = app.test_client().get("/_test/context", headers={"X-Request-ID": "context-1"})
    assert response.status_code == 500 and response.get_json()["probe_error"]["status"] == 500
    assert response.headers["X-Request-ID"] == "context-1"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (error,) = [line for line in lines if line["severity"] == "ERROR"]
    assert error["request_id"] == "context-1"
    assert "nothing at /_test/context" in error["exception"]


def test_before_the_first_chunk_an_http_error_is_answered_as_the_view_would():
    app = create_probe_app({"TESTING": False})

    def forbidden():
        abort(403, "Not yours.")
        yield b""  # a generator: the abort happens while the body is iterated

    app.add_url_rule("/_test/forbidden", "_test_forbidden", lambda: forbidden())
    response = app.test_client().get("/_test/forbidden", headers={"X-Request-ID": "abort-1234"})
    assert response.status_code == 403
    assert response.get_json()["probe_error"]["message"] == "Not yours."
    assert response.headers["X-Request-ID"] == "abort-1234"


def test_a_file_wrapper_goes_to_the_server_untouched():
    # Gunicorn sends a wsgi.file_wrapper with sendfile(); a wrapped one would be copied.
    class FileWrapper:
        def __init__(self, file, block_size=8192):
            self.file = file

        def __iter__(self):
            return iter(())

    app = create_probe_app({"TESTING": False})
    app.add_url_rule(
        "/_test/file",
        "_test_file",
        lambda: send_file(io.BytesIO(b"x"), "text/plain"),
    )
    environ = EnvironBuilder(path="/_test/file").get_environ()
    environ["wsgi.file_wrapper"] = FileWrapper
    body = app.wsgi_app(environ, lambda *args: None)
    assert isinstance(body, FileWrapper)


def test_sleep_unless_draining_returns_false_once_draining():
    assert sleep_unless_draining(0.01) is True
    lifecycle.start_draining()
    started = time.monotonic()
    assert sleep_unless_draining(30) is False
    assert time.monotonic() - started < 1


def test_failure_after_the_first_chunk_is_logged_with_the_request_id(capsys):
    app, _ = _streaming_app()
    capsys.readouterr()
    response = app.test_client().get(
        "/_test/stream?count=2&fail_at=1", headers={"X-Request-ID": "later-1234"}
    )
    with pytest.raises(RuntimeError, match="boom"):
        response.get_data()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (error,) = [line for line in lines if line["severity"] == "ERROR"]
    assert error["request_id"] == "later-1234"
    assert "boom" in error["exception"]
