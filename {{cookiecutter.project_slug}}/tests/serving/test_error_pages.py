"""gunicorn's own error pages (400, 414, 431), written before Flask runs, carry the
security headers and a request id, against a real gunicorn (serving/error_pages.py).

The worker class is the project's default; CI runs this file once per class.
"""

import json
import socket

import pytest
from harness.http import wait_for
from harness.servers import probe_server

from {{ cookiecutter.package_name }}.serving.security_headers import SECURITY_HEADERS

REFUSED = {
    400: b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    414: b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    431: b"GET /health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: 1\r\n" % i for i in range(150))
    + b"\r\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    env = {"WEB_CONCURRENCY": "1"}
    with probe_server(tmp_path_factory.mktemp("errors"), env, request) as server:
        yield server


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read to the close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split(" ")[1]), headers, body


@pytest.mark.parametrize("status", list(REFUSED))
def test_gunicorns_error_pages_carry_the_security_headers_and_a_request_id(server, status):
    answered, headers, body = exchange(server.port, REFUSED[status])
    assert answered == status
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    request_id = headers["X-Request-ID"]
    assert len(request_id) >= 8
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    # gunicorn's warning about the request names the same id.
    wait_for(
        lambda: any(
            "Invalid request" in line.get("message", "") and line.get("request_id") == request_id
            for line in map(json.loads, server.lines())
        ),
        5,
        f"gunicorn's warning with request_id {request_id}",
    )


def test_each_error_page_has_its_own_request_id(server):
    ids = {exchange(server.port, REFUSED[400])[1]["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
