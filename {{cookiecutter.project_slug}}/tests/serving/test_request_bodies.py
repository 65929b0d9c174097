"""Request bodies over MAX_CONTENT_LENGTH get a 413 however they are framed, against a
real gunicorn: JSON, url-encoded and multipart, with Content-Length and chunked.

Werkzeug cut chunked bodies at the limit and the view answered 200 on what was
left (serving/request_bodies.py). The worker class is the project's default; CI
runs this file once per class.
"""

import json

import pytest
import requests
from harness.servers import probe_server

LIMIT = 64 * 1024
# Over the limit by more than a chunk, under what the kernel buffers on loopback:
# the client has sent every byte before the server answers and closes.
OVER = 3 * LIMIT


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    env = {"MAX_CONTENT_LENGTH": str(LIMIT), "WEB_CONCURRENCY": "1"}
    with probe_server(tmp_path_factory.mktemp("bodies"), env, request) as server:
        yield server


def json_body(size):
    items = size // 100
    return "/_probe/json", json.dumps(["x" * 96] * items).encode(), "application/json", items


def form_body(size):
    fields = size // 100
    body = "&".join(f"f{i:04d}={'x' * 92}" for i in range(fields)).encode()
    return "/_probe/form", body, "application/x-www-form-urlencoded", fields


def multipart_body(size):
    prepared = requests.Request(
        "POST", "http://x/", files={"file": ("a.bin", b"x" * size)}, data={"name": "a"}
    ).prepare()
    return "/_probe/form", prepared.body, prepared.headers["Content-Type"], 1


KINDS = {"json": json_body, "urlencoded": form_body, "multipart": multipart_body}


def post(server, path, body, content_type, chunked):
    # A generator makes requests send Transfer-Encoding: chunked, 16 KiB a chunk.
    data = (body[i : i + 16384] for i in range(0, len(body), 16384)) if chunked else body
    return requests.post(
        f"{server.url}{path}", data=data, headers={"Content-Type": content_type}, timeout=10
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_body_over_the_limit_gets_a_413(server, kind, chunked):
    path, body, content_type, _ = KINDS[kind](OVER)
    response = post(server, path, body, content_type, chunked)
    assert response.status_code == 413, response.text


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_body_under_the_limit_is_read_whole(server, kind, chunked):
    path, body, content_type, count = KINDS[kind](LIMIT // 2)
    response = post(server, path, body, content_type, chunked)
    assert response.status_code == 200, response.text
    if kind == "json":
        assert response.json() == {"items": count}
    elif kind == "urlencoded":
        assert response.json()["fields"] == count
    else:
        assert response.json() == {"fields": 1, "files": LIMIT // 2}


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 413)])
def test_the_limit_is_exact_for_chunked_bodies(server, size, status):
    response = post(server, "/_probe/echo", b"x" * size, "application/octet-stream", True)
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"size": LIMIT}


class CountingStream:
    """A chunked body of `size` bytes that counts what was taken from it."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.taken = 0

    def read(self, size=None):
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        self.taken += size
        return b"x" * size

    def readline(self, size=None):
        return self.read(size)


@pytest.mark.parametrize("method", ["read", "readline"])
def test_a_read_of_everything_takes_at_most_one_byte_past_the_limit(app, method):
    # A view reading wsgi.input itself (`.read()`, no size) would otherwise take in the
    # whole body, however large, before it is counted.
    from werkzeug.exceptions import RequestEntityTooLarge

    from {{ cookiecutter.package_name }}.serving.request_bodies import ChunkedBodyLimitMiddleware

    body = CountingStream(100 * 1024 * 1024)
    seen = {}

    def view(environ, start_response):
        stream = environ["wsgi.input"]
        with pytest.raises(RequestEntityTooLarge):
            getattr(stream, method)()
        seen["taken"] = body.taken
        return []

    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": body}
    with app.app_context():
        ChunkedBodyLimitMiddleware(view, app)(environ, lambda *args: None)
    assert seen["taken"] == LIMIT + 1
