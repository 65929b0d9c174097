"""Real gunicorn processes with the project's config, on 127.0.0.1 only."""

import signal
import time

import pytest
import requests
from harness.http import BackgroundRequest, wait_for, wait_for_health
from harness.probe_app import SLOW_STARTED

WORKER_CLASSES = ["sync", "gthread", "gevent"]


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_serves_health_and_logs_json(start_gunicorn, worker_class):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    response = wait_for_health(server.url)
    assert response.json()["status"] == "ok"
    request_id = response.headers["X-Request-ID"]
    # This request's access line: an earlier /health that timed out on a loaded
    # machine logs one of its own, maybe before this one's.
    wait_for(
        lambda: any(request_id in line and '"path"' in line for line in server.lines()),
        10,
        "the access line of the request that answered",
    )
    lines = server.json_lines()  # every line parses as JSON
    (boot,) = [line for line in lines if line["message"] == "gunicorn configuration"]
    assert boot["config"]["worker_class"] == worker_class
    assert boot["config"]["workers"] == 2
    assert boot["config"]["workers_source"] == "environment (WEB_CONCURRENCY)"
    assert boot["config"]["control_socket"] is None
    access = [line for line in lines if line.get("request_id") == request_id]
    assert len(access) == 1  # one line per request, never twice
    entry = access[0]
    assert entry["status"] == 200 and entry["method"] == "GET"
    assert entry["path"] == "/health"
    assert entry["duration_ms"] >= 0 and entry["bytes"] > 0
    assert entry["remote_addr"] == "127.0.0.1"
    assert "user_agent" in entry
    assert not any("MonkeyPatchWarning" in line for line in server.lines())


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_sigterm_lets_the_in_flight_request_finish(start_gunicorn, worker_class):
    server = start_gunicorn(
        {"GUNICORN_WORKER_CLASS": worker_class, "GUNICORN_GRACEFUL_TIMEOUT": "8"}
    )
    wait_for_health(server.url)
    in_flight = BackgroundRequest(f"{server.url}/_probe/slow?seconds=2")
    server.wait_for_line(SLOW_STARTED)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    exit_code = server.process.wait(timeout=15)
    took = time.monotonic() - signalled
    assert in_flight.outcome() == 200
    assert exit_code == 0
    assert took < 8, f"took {took:.1f}s, over the graceful timeout"


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_sigterm_with_an_idle_kept_alive_connection_exits_promptly(start_gunicorn, worker_class):
    # Platform routers keep connections open between requests; shutdown must not
    # wait for them until the graceful timeout.
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    wait_for_health(server.url)
    with requests.Session() as router:
        assert router.get(f"{server.url}/health", timeout=5).status_code == 200
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        took = time.monotonic() - signalled
    assert took < 4, f"took {took:.1f}s with an idle kept-alive connection"
    assert not any('"severity": "ERROR"' in line for line in server.lines())


def test_gevent_patches_the_standard_library(start_gunicorn):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": "gevent"})
    wait_for_health(server.url)
    assert requests.get(f"{server.url}/_probe/patched", timeout=5).json() == {"socket": True}


def test_external_urls_are_https_behind_a_trusted_proxy(start_gunicorn):
    server = start_gunicorn({"FORWARDED_ALLOW_IPS": "127.0.0.1"})
    wait_for_health(server.url)
    proxied = requests.get(
        f"{server.url}/_probe/url", headers={"X-Forwarded-Proto": "https"}, timeout=5
    )
    assert proxied.json()["scheme"] == "https"
    assert proxied.json()["url"].startswith("https://")
    direct = requests.get(f"{server.url}/_probe/url", timeout=5)
    assert direct.json()["scheme"] == "http"


def test_untrusted_proxy_cannot_claim_https(start_gunicorn):
    server = start_gunicorn({"FORWARDED_ALLOW_IPS": "192.0.2.1"})
    wait_for_health(server.url)
    spoofed = requests.get(
        f"{server.url}/_probe/url", headers={"X-Forwarded-Proto": "https"}, timeout=5
    )
    assert spoofed.json()["scheme"] == "http"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_CONCURRENCY", "abc"),
        ("GUNICORN_WORKER_CLASS", "eventlet"),
        ("PORT", "70000"),
        ("GUNICORN_TIMEOUT", "-1"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_bad_environment_stops_before_binding(start_gunicorn, name, value):
    server = start_gunicorn({name: value})
    exit_code = server.process.wait(timeout=20)
    lines = server.lines()
    assert exit_code != 0
    assert len(lines) == 1, lines
    assert name in lines[0] and repr(value) in lines[0]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/health", timeout=1)


def test_gevent_with_preload_stops_before_binding(start_gunicorn):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": "gevent", "GUNICORN_PRELOAD": "yes"})
    assert server.process.wait(timeout=20) != 0
    (line,) = server.lines()
    assert "GUNICORN_PRELOAD" in line and "gevent" in line


def test_a_bad_secret_stops_the_service_before_binding_without_printing_it(start_gunicorn):
    server = start_gunicorn({"SECRET_KEY": "not-a-real-secret", "SECRET_KEY_FILE": "/x"})
    assert server.process.wait(timeout=20) == 2
    (line,) = server.lines()
    assert "SECRET_KEY and SECRET_KEY_FILE are both set" in line
    assert "not-a-real-secret" not in line


def test_files_the_service_writes_are_group_writable(start_gunicorn, tmp_path):
    server = start_gunicorn({"DATA_DIR": str(tmp_path / "state")})
    wait_for_health(server.url)
    response = requests.post(f"{server.url}/_probe/data/notes.txt", data=b"x", timeout=5)
    assert response.json()["mode"] == "0o664"  # umask 002, set by the start command


@pytest.mark.parametrize(
    "command",
    [["flask", "--app", "{{ cookiecutter.package_name }}", "routes"], ["-m", "{{ cookiecutter.package_name }}", "manage", "routes"]],
    ids=["flask-cli", "manage"],
)
def test_the_flask_cli_finds_the_app(command, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from environment import app_environment
    from harness.budgets import app_times

    executable = Path(sys.executable).parent / "flask" if command[0] == "flask" else sys.executable
    args = command[1:] if command[0] == "flask" else command
    result = subprocess.run(
        [str(executable), *args],
        # src/ as `make` installs it (editable), whatever venv runs the tests.
        env={
            **os.environ,
            **app_environment(tmp_path / "data"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        },
        capture_output=True,
        text=True,
        timeout=app_times().deadline(),
    )
    assert result.returncode == 0, result.stderr
    # Your app's routes, /health among them: the one the image's HEALTHCHECK polls.
    assert "/health" in result.stdout
