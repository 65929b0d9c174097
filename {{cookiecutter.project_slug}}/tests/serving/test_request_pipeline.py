"""The serving machinery inside an app: request ids, security headers, limits, logs,
draining, session cookies and the data folder, through Flask's test client.

`app` and `client` are the probe app's (conftest.py), never yours: these tests check
what serving.init_app adds to any app. Routes they add are named `_test_*`.
"""

import json
import logging
import uuid

import pytest
from harness.probe_app import create_probe_app
from harness.servers import run_python

from {{ cookiecutter.package_name }}.serving.lifecycle import start_draining
from {{ cookiecutter.package_name }}.serving.request_context import new_request_id
from {{ cookiecutter.package_name }}.serving.security_headers import SECURITY_HEADERS


def log_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_ready_answers_503_once_draining(client):
    assert client.get("/ready").status_code == 200
    start_draining()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "draining"
    # Liveness is unaffected: the process is healthy, just leaving.
    assert client.get("/health").status_code == 200


def test_body_over_the_limit_is_a_413_from_the_apps_handler(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 10
    app.add_url_rule(
        "/_test/echo",
        "_test_echo",
        lambda: {"size": len(__import__("flask").request.data)},
        methods=["POST"],
    )
    response = client.post("/_test/echo", data=b"x" * 11)
    assert response.status_code == 413
    assert response.get_json()["probe_error"]["status"] == 413
    assert client.post("/_test/echo", data=b"x" * 10).status_code == 200


def test_request_id_is_echoed_when_sane(client):
    offered = "0f3e6c1c-8a3b-4d54-9a55-2f1a3c6e9b10"
    response = client.get("/health", headers={"X-Request-ID": offered})
    assert response.headers["X-Request-ID"] == offered


@pytest.mark.parametrize("offered", ["short", "x" * 201, "bad id with spaces", "<script>"])
def test_request_id_is_replaced_when_not_sane(client, offered):
    response = client.get("/health", headers={"X-Request-ID": offered})
    generated = response.headers["X-Request-ID"]
    assert generated != offered
    assert len(generated) == 32 and int(generated, 16) >= 0


def test_request_id_is_generated_when_absent(client):
    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/health").headers["X-Request-ID"]
    assert first != second
    for generated in (first, second, *(new_request_id() for _ in range(200))):
        as_uuid = uuid.UUID(hex=generated)  # a version 4 UUID, as uuid4() made them
        assert (as_uuid.hex, as_uuid.version, as_uuid.variant) == (
            generated,
            4,
            uuid.RFC_4122,
        )


# Ids from the process's generator: each forked worker must draw its own sequence,
# whatever the app does with the random module's.
IDS_ACROSS_FORKS = r"""
import os, random
from {{ cookiecutter.package_name }}.serving.request_context import new_request_id

random.seed(0)
os.write(1, f"{new_request_id()}\n".encode())
for _ in range(3):  # one after another: one line each, never interleaved
    pid = os.fork()
    if pid == 0:
        random.seed(0)
        os.write(1, f"{new_request_id()} {new_request_id()}\n".encode())
        os._exit(0)
    os.waitpid(pid, 0)
os.write(1, f"{new_request_id()}\n".encode())
"""


def test_forked_workers_generate_ids_of_their_own():
    result = run_python(IDS_ACROSS_FORKS)
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 8 and len(set(ids)) == 8, ids


def test_error_responses_carry_the_request_id_too(client):
    assert (
        client.get("/nope", headers={"X-Request-ID": "abcdefgh-1234"}).headers["X-Request-ID"]
        == "abcdefgh-1234"
    )


def test_security_headers_on_every_response(client):
    for response in (client.get("/health"), client.get("/nope")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.getlist(name) == [value]


def test_a_views_own_security_header_wins(app, client):
    own_policy = "frame-ancestors https://example.com"
    app.add_url_rule(
        "/_test/embeddable",
        "_test_embeddable",
        lambda: ("ok", {"content-security-policy": own_policy}),
    )
    headers = client.get("/_test/embeddable").headers
    assert headers.getlist("Content-Security-Policy") == [own_policy]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_log_lines_are_json_with_request_id(app, client, capsys):

    app.add_url_rule(
        "/_test/hello", "_test_hello", lambda: logging.getLogger("svc").info("hi") or "ok"
    )
    capsys.readouterr()
    client.get("/_test/hello", headers={"X-Request-ID": "req-12345678"})
    lines = log_lines(capsys)
    assert len(lines) == 1, lines  # no line twice
    (line,) = lines
    assert line["message"] == "hi"
    assert line["severity"] == "INFO"
    assert line["logger"] == "svc"
    assert line["request_id"] == "req-12345678"
    assert line["time"].endswith("Z")


@pytest.mark.parametrize(
    "header",
    [
        ("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1"),
        ("traceparent", "00-105445aa7843bc8bf206b12000100000-00f067aa0ba902b7-01"),
    ],
)
def test_trace_header_becomes_the_cloud_logging_trace(client, capsys, header):
    app = create_probe_app({"TESTING": True, "GOOGLE_CLOUD_PROJECT": "my-project"})
    app.add_url_rule("/_test/hello", "_test_hello", lambda: app.logger.warning("hi") or "ok")
    capsys.readouterr()
    app.test_client().get("/_test/hello", headers=[header])
    (line,) = log_lines(capsys)
    assert line["logging.googleapis.com/trace"] == (
        "projects/my-project/traces/105445aa7843bc8bf206b12000100000"
    )


def test_no_trace_field_without_a_project(app, client, capsys):
    app.add_url_rule("/_test/hello", "_test_hello", lambda: app.logger.warning("hi") or "ok")
    capsys.readouterr()
    client.get(
        "/_test/hello", headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1"}
    )
    (line,) = log_lines(capsys)
    assert "logging.googleapis.com/trace" not in line


def _access_entry(capsys, access_level=None):
    """One access entry through GunicornLogger, as a worker writes it after a response."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from {{ cookiecutter.package_name }}.serving.logging_setup import GunicornLogger

    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    if access_level is not None:
        logger.access_log.setLevel(access_level)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/health",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "service.request_id": "req-12345678",
    }
    capsys.readouterr()
    try:
        response = SimpleNamespace(status="200 OK", sent=42)
        logger.access(response, None, environ, timedelta(milliseconds=3))
        return log_lines(capsys)
    finally:
        logger.access_log.setLevel(logging.INFO)


def test_access_entry_is_one_json_line_with_the_request_id(capsys):
    (line,) = _access_entry(capsys)
    assert line["logger"] == "gunicorn.access" and line["severity"] == "INFO"
    assert line["message"] == "GET /health 200"
    assert line["request_id"] == "req-12345678"
    assert (line["status"], line["bytes"], line["duration_ms"]) == (200, 42, 3.0)
    assert line["time"].endswith("Z")


def test_access_entries_follow_the_access_loggers_level(capsys):

    assert _access_entry(capsys, access_level=logging.WARNING) == []


def test_log_times_take_seconds_and_milliseconds_from_one_clock_reading():
    # LogRecord.msecs comes from integer nanoseconds, `created` from a float that can
    # round up to the next second: mixing the two printed 02.999 as 03.999.
    from {{ cookiecutter.package_name }}.serving.logging_setup import _rfc3339_utc

    assert _rfc3339_utc(1_700_000_002.9996) == "2023-11-14T22:13:22.999Z"
    assert _rfc3339_utc(1_700_000_003.0) == "2023-11-14T22:13:23.000Z"


def test_instance_path_is_the_data_location(app, tmp_path):
    assert app.instance_path == str(tmp_path / "data")
    assert (tmp_path / "data").is_dir()


def _session_app(**overrides):
    from flask import session

    # A key of its own: whatever your tests/environment.py gives, sessions need one.
    app = create_probe_app({"TESTING": True, "SECRET_KEY": "probe-session-key-" * 2, **overrides})
    app.add_url_rule("/_test/login", "_test_login", lambda: session.update(user="u") or "ok")
    return app


def test_session_cookie_is_httponly_and_samesite_lax_and_plain_over_http(app):
    cookie = _session_app().test_client().get("/_test/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_the_request_was_https(app):
    client = _session_app().test_client()
    cookie = client.get("/_test/login", base_url="https://example.com").headers["Set-Cookie"]
    assert "Secure" in cookie


def test_json_lines_never_carry_terminal_escapes(app, client, capsys):
    # Werkzeug's development server colours its request lines whatever the output.
    logging.getLogger("werkzeug").info("\x1b[33mGET / HTTP/1.1\x1b[0m 404")
    (line,) = log_lines(capsys)
    assert line["message"] == "GET / HTTP/1.1 404"


def test_text_lines_are_plain_when_not_a_terminal(monkeypatch, capsys):
    from {{ cookiecutter.package_name }}.serving.logging_setup import configure_logging

    configure_logging("info", "text")
    try:
        capsys.readouterr()
        logging.getLogger("werkzeug").warning("\x1b[33mGET /\x1b[0m")
        out = capsys.readouterr().out
        assert "\x1b" not in out and "WARNING werkzeug: GET /" in out
    finally:
        configure_logging("info", "json")


@pytest.fixture
def text_logs():
    from {{ cookiecutter.package_name }}.serving.logging_setup import configure_logging

    configure_logging("info", "text")
    yield
    configure_logging("info", "json")


def test_a_text_access_entry_stays_one_line_whatever_the_path_holds(text_logs, capsys, monkeypatch):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from {{ cookiecutter.package_name }}.serving.logging_setup import GunicornLogger

    monkeypatch.setenv("LOG_FORMAT", "text")  # GunicornLogger sets logging up again
    config = Config()
    config.set("accesslog", "-")
    # What gunicorn puts in PATH_INFO for /x%0d%0a...: the decoded CR and LF.
    forged = "/x\r\n2026-01-31 09:15:02,123 INFO gunicorn.access: GET /admin 200"
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": forged, "service.request_id": "req-12345678"}
    capsys.readouterr()
    GunicornLogger(config).access(
        SimpleNamespace(status="404 NOT FOUND", sent=0), None, environ, timedelta(0)
    )
    (line,) = capsys.readouterr().out.splitlines()
    assert "GET /x\\r\\n2026-01-31 09:15:02,123 INFO gunicorn.access: GET /admin 200 404" in line
    assert line.endswith("[request_id=req-12345678]")


def test_text_entries_escape_every_character_that_splits_lines(text_logs, capsys):
    controls = [chr(code) for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]
    capsys.readouterr()
    for char in controls:
        logging.getLogger("svc").warning("before%safter", char)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(controls)
    assert all(line.count("before") == 1 and "after" in line for line in lines)
    assert "before\\nafter" in lines[0x0A] and "before\\x1bafter" in lines[0x1B]
    assert "before\\u2028after" in lines[-2]


def test_a_text_entry_with_a_traceback_is_one_line(text_logs, capsys):
    capsys.readouterr()
    try:
        raise ValueError("bad\r\nvalue")
    except ValueError:
        logging.getLogger("svc").exception("failed")
    (line,) = capsys.readouterr().out.splitlines()
    assert "ERROR svc: failed\\nTraceback (most recent call last):\\n" in line
    assert line.endswith("ValueError: bad\\r\\nvalue")


def test_the_dev_servers_banner_is_a_line_per_line_and_nothing_else_splits(text_logs, capsys):
    # What `make dev` printed as one line with a written \n: Werkzeug's own text.
    capsys.readouterr()
    banner = "WARNING: This is a development server.\n * Running on http://127.0.0.1:8080"
    logging.getLogger("werkzeug").info(banner)
    # The same shape with request data in it, or from another logger, stays one line.
    logging.getLogger("werkzeug").info("%s\n * Running on x", "GET /")
    logging.getLogger("svc").info(banner)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("INFO werkzeug: WARNING: This is a development server.")
    assert lines[1].endswith("INFO werkzeug:  * Running on http://127.0.0.1:8080")
    assert len(lines) == 4 and all("\\n * Running on" in line for line in lines[2:])


def test_the_app_room_uses_only_the_public_names_of_serving():
    import ast
    from pathlib import Path

    import {{ cookiecutter.package_name }} as package
    from {{ cookiecutter.package_name }} import serving

    room = Path(package.__file__).parent
    for path in room.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "serving" in node.module:
                assert node.module in ("serving", "{{ cookiecutter.package_name }}.serving") or (
                    path.name == "__main__.py" and node.module == "serving.start"
                ), f"{path.name} imports {node.module}: use `from .serving import ...`"
                assert {alias.name for alias in node.names} <= {*serving.__all__, "main"}


def test_config_loads_no_third_party_module_into_the_master():
    import os
    import subprocess
    import sys
    from pathlib import Path

    # What gunicorn's master imports to validate the app's variables.
    script = (
        "import sys; before = set(sys.modules); import {{ cookiecutter.package_name }}.config; "
        "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    loaded = set(eval(result.stdout))  # noqa: S307 (our own printout)
    third_party = {m for m in loaded - set(sys.stdlib_module_names) if not m.startswith("_")}
    assert third_party <= {"{{ cookiecutter.package_name }}"}, third_party
