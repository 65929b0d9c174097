"""TRUSTED_HOSTS and redirects against a real gunicorn: an untrusted Host gets a 400
(health checks excepted), and no routing redirect carries the Host header.

The worker class is the project's default; CI runs this file once per class.
"""

import os
import subprocess
import sys

import pytest
import requests
from harness.http import wait_for_health
from harness.servers import PROJECT, probe_server

TRUSTED = "api.example.com,.example.org"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    env = {"TRUSTED_HOSTS": TRUSTED, "WEB_CONCURRENCY": "1"}
    with probe_server(tmp_path_factory.mktemp("hosts"), env, request) as server:
        yield server


def get(server, path, host):
    return requests.get(
        f"{server.url}{path}", headers={"Host": host}, allow_redirects=False, timeout=5
    )


@pytest.mark.parametrize(
    "host", ["api.example.com", "API.example.com:8443", "example.org", "eu.shop.example.org"]
)
def test_a_trusted_host_is_served(server, host):
    response = get(server, "/_probe/url", host)
    assert response.status_code == 200
    assert response.json()["url"].lower() == f"http://{host.lower()}/_probe/url"


@pytest.mark.parametrize(
    "host", ["evil.example", "example.com", "api.example.com.evil.example", "10.0.0.7"]
)
def test_an_untrusted_host_gets_a_400(server, host):
    assert get(server, "/_probe/url", host).status_code == 400
    # Routing's redirects come after the check: no redirect at all.
    assert get(server, "/_probe//url", host).status_code == 400


@pytest.mark.parametrize(
    "host",
    [
        "10.244.1.17:8080",  # Kubernetes httpGet: the pod's IP
        "healthcheck.railway.app",  # Railway's deploy check
        "evil.example",
    ],
)
@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_health_checks_answer_whatever_the_host(server, host, path):
    # /ready is 503 while a readiness check of the app fails: answered all the same.
    assert get(server, path, host).status_code in ((200,) if path == "/health" else (200, 503))


def test_the_images_healthcheck_passes(server):
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(server.port),
        "TRUSTED_HOSTS": TRUSTED,
        "PYTHONPATH": str(PROJECT / "src"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.serving.healthcheck"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("trusted_hosts", ["", TRUSTED], ids=["unset", "set"])
def test_routing_redirects_never_carry_the_host(start_gunicorn, trusted_hosts):
    server = start_gunicorn({"TRUSTED_HOSTS": trusted_hosts, "WEB_CONCURRENCY": "1"})
    wait_for_health(server.url)
    host = "evil.example" if not trusted_hosts else "api.example.com"
    # Merged slashes; Werkzeug built `http://HOST/_probe/url` from the Host header.
    merged = get(server, "/_probe//url?v=1", host)
    assert merged.status_code == 308
    assert merged.headers["Location"] == "/_probe/url?v=1"
    assert host not in merged.text
    # Leading slashes merged too: `/_probe/url`, never a protocol-relative `//...`
    # (a Location starting `//` names another site).
    leading = get(server, "//_probe//url", host)
    assert leading.status_code == 308
    assert leading.headers["Location"] == "/_probe/url"
