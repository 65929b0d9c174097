"""The slow-request WARNING: real gunicorn per worker class, harness/ops_app.py's routes.

Each test synchronises on the access line of its request (the same call writes the
warning just before it): once it is there, a missing warning is missing.
"""

import os
import subprocess
import sys

import pytest
import requests
from harness.http import wait_for, wait_for_health
from harness.servers import PROJECT

OPS_APP = "harness.ops_app:app"
WORKER_CLASSES = ["sync", "gthread", "gevent"]
SLOW = "{{ cookiecutter.package_name }}.serving.slow_requests"


def start(start_gunicorn, worker_class, **env):
    server = start_gunicorn(
        {"GUNICORN_WORKER_CLASS": worker_class, "WEB_CONCURRENCY": "1", **env}, app=OPS_APP
    )
    wait_for_health(server.url)
    return server


def get(server, path: str, request_id: str) -> requests.Response:
    response = requests.get(f"{server.url}{path}", headers={"X-Request-ID": request_id}, timeout=10)
    assert response.status_code == 200, response.text
    return response


def logged(server, request_id: str) -> tuple[dict, list[dict]]:
    """The access line of `request_id` (waited for) and its slow-request lines."""

    def lines():
        mine = [line for line in server.json_lines() if line.get("request_id") == request_id]
        access = [line for line in mine if line["logger"] == "gunicorn.access"]
        return (access[0], [line for line in mine if line["logger"] == SLOW]) if access else None

    return wait_for(lines, 10, f"the access line of {request_id}")


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_request_over_the_threshold_warns_with_its_route_and_a_fast_one_does_not(
    start_gunicorn, worker_class
):
    # 0.3 s, not the default 1 s: the 0.5 s request warns only if the variable is read.
    # URL_PREFIX: Flask sees a copy of gunicorn's environ, and the route still arrives.
    server = start(start_gunicorn, worker_class, SLOW_REQUEST_SECONDS="0.3", URL_PREFIX="/shop")
    get(server, "/shop/_ops/wait/500", f"slow-{worker_class}")
    get(server, "/shop/_ops/wait/0", f"fast-{worker_class}")

    access, (warning,) = logged(server, f"slow-{worker_class}")
    print(f"\n{worker_class}: {warning}")
    assert warning["severity"] == "WARNING"
    assert warning["method"] == "GET"
    assert warning["route"] == "/_ops/wait/<int:ms>", "the rule, never the path"
    assert warning["status"] == 200
    assert 500 <= warning["duration_ms"] < 5000
    # One timing: the access entry's, for the same request.
    assert warning["duration_ms"] == access["duration_ms"]
    assert warning["slow_request_seconds"] == 0.3
    assert "/shop/_ops/wait/500" not in warning["message"]
    assert "/_ops/wait/<int:ms>" in warning["message"]

    fast_access, fast_warnings = logged(server, f"fast-{worker_class}")
    assert fast_access["duration_ms"] < 300 and fast_warnings == []


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_stream_slow_only_at_its_end_warns(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class, SLOW_REQUEST_SECONDS="0.3")
    with requests.get(
        f"{server.url}/_ops/stream/600",
        headers={"X-Request-ID": f"stream-{worker_class}"},
        stream=True,
        timeout=10,
    ) as response:
        lines = response.iter_lines()
        # The head and the first chunk come at once: the view itself is fast.
        assert next(lines) == b"first"
        assert next(lines) == b"last"

    _access, (warning,) = logged(server, f"stream-{worker_class}")
    assert warning["route"] == "/_ops/stream/<int:ms>"
    assert warning["duration_ms"] >= 600, "measured to the last byte, not to the view's return"


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_zero_turns_the_warning_off(start_gunicorn, worker_class):
    server = start(start_gunicorn, worker_class, SLOW_REQUEST_SECONDS="0")
    get(server, "/_ops/wait/1200", f"off-{worker_class}")
    access, warnings = logged(server, f"off-{worker_class}")
    assert access["duration_ms"] >= 1200 and warnings == []


def test_the_default_threshold_is_one_second(start_gunicorn):
    server = start(start_gunicorn, "gthread")
    get(server, "/_ops/wait/600", "under-default")
    get(server, "/_ops/wait/1100", "over-default")
    assert logged(server, "under-default")[1] == []
    (warning,) = logged(server, "over-default")[1]
    assert warning["slow_request_seconds"] == 1.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("SLOW_REQUEST_SECONDS", "-1"), ("SLOW_REQUEST_SECONDS", "1s"), ("READY_CHECK_TIMEOUT", "0")],
)
def test_a_bad_value_stops_the_start_before_it_binds(name, value):
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", OPS_APP],
        cwd=PROJECT,
        env={**_environ(), name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"configuration error: {name}={value!r} is not allowed")
    assert "Listening" not in result.stdout


def _environ() -> dict[str, str]:
    """This test process's environment (the test one), with the project on the path."""
    paths = [PROJECT / "src", PROJECT / "tests", PROJECT / "tests" / "serving"]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in paths)}


def test_the_warning_comes_with_the_access_log_off(capsys):
    """In-process, gunicorn's logger as a worker calls it: `accesslog = None` drops
    the access entry, never the warning."""
    import json
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from {{ cookiecutter.package_name }}.serving.logging_setup import GunicornLogger
    from {{ cookiecutter.package_name }}.serving.slow_requests import ROUTE_KEY, RouteNote

    logger = GunicornLogger(Config())  # gunicorn's default: no access log
    note = RouteNote()
    note.rule = "/items/<int:item_id>"
    environ = {"REQUEST_METHOD": "POST", "service.request_id": "req-slow-1", ROUTE_KEY: note}
    capsys.readouterr()
    response = SimpleNamespace(status="201 CREATED", sent=2)
    logger.access(response, None, environ, timedelta(seconds=1.5))
    logger.access(response, None, environ, timedelta(seconds=0.5))
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (line["logger"], line["severity"], line["request_id"]) == (SLOW, "WARNING", "req-slow-1")
    assert (line["method"], line["route"], line["status"]) == ("POST", "/items/<int:item_id>", 201)
    assert line["duration_ms"] == 1500.0
